"""The lineage picture on the bundled data: links join versions of a code, not codes.

Tân Xã (10000) went on 2025-07-01 into Hạ Bằng (09982) and Hòa Lạc (09988), two codes
reused that day: the old 09982 (Bình Yên) and the old 09988 (Thạch Hòa) went elsewhere in
the same reform. The picture must stop at the new codes, not continue with the old ones'
links (Thạch Hòa's parts went to Yên Xuân 04930 and Yên Bài 09706, not Tân Xã's).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from registry.db import make_engine
from tests.conftest import Templates
from tests.web.conftest import AU, serve


@pytest.fixture(scope="module")
def bundled_url(templates: Templates, backend: str) -> Iterator[str]:
    """A server on a copy of the database with every bundled change set published."""
    url = templates.fresh_url(backend, "bundled")
    with serve(url) as base:
        yield base
    make_engine(url).dispose()


def _lineage(page: str) -> str:
    start = page.index('id="lineage-h"')
    return page[start:page.index("</section>", start)]


def test_the_page_of_10000_draws_only_links_forward_in_time(bundled_url: str) -> None:
    page = httpx.get(f"{bundled_url}/lists/{AU}/10000?lang=en", timeout=30)
    assert page.status_code == 200
    lineage = _lineage(page.text)
    assert "Hòa Lạc" in lineage and "Hạ Bằng" in lineage
    for other in ("04930", "09706", "Yên Xuân", "Yên Bài"):
        assert other not in lineage
    # Two links, both from 10000, and no box beyond the first column of successors.
    assert len(re.findall(r"<li>", lineage)) == 2
    assert "09982 → 09988" not in lineage


def test_the_page_of_a_reused_code_shows_both_its_generations(bundled_url: str) -> None:
    lineage = _lineage(httpx.get(f"{bundled_url}/lists/{AU}/09988?lang=en", timeout=30).text)
    # Thạch Hòa's parts that went to Yên Xuân are on the page of 09988 itself.
    assert "Yên Xuân" in lineage and "Tân Xã" in lineage
