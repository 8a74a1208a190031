"""The one date parser of every interface."""

from __future__ import annotations

from datetime import date

import pytest

from registry.dates import iso_day


def test_the_written_form_is_read() -> None:
    assert iso_day(" 2025-07-01 ") == date(2025, 7, 1)


@pytest.mark.parametrize("text", ["20250701", "2025-W27-2", "2025-7-1", "2025-02-30",
                                  "2025-07-01T00:00", "", "２０２５-07-01"])
def test_every_other_form_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        iso_day(text)
