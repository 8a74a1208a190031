"""A property-based fuzzer over the SDL: no document, valid or not, is a 500 or a masked bug.

hypothesis-graphql builds documents from ``registry/graphql/schema.graphql``: valid
queries and mutations (any field, any arguments, NUL bytes in strings included) and
invalid ones. Every answer must be a 200 or a 4xx, and no error may be the masked
"Unexpected error." that stands for a bug. The seed is fixed (``derandomize``) and the
examples bounded, so the run is the same every time and takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import Mode, mutations, nodes, queries

import registry.graphql
from tests.factories import hanoi
from tests.graphql.conftest import Api

Write = Callable[[Callable[..., Any]], Any]
SDL = (Path(registry.graphql.__file__).parent / "schema.graphql").read_text(encoding="utf-8")
SCALARS = {
    "Date": st.dates().map(lambda d: nodes.String(d.isoformat())),
    "DateTime": st.datetimes().map(lambda d: nodes.String(d.isoformat())),
    "JSON": st.one_of(st.text(max_size=20).map(nodes.String),
                      st.integers(-5, 5).map(lambda i: nodes.Int(i))),
}
SETTINGS = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _check(api: Api, document: str, token: str | None) -> None:
    response = api.post(document, token=token)
    assert response.status_code < 500, (document, response.text)
    if response.status_code == 200:
        for error in response.json().get("errors") or []:
            assert error["message"] != "Unexpected error.", (document, error)


@pytest.fixture
def steward(write: Write, token: Callable[..., str]) -> str:
    write(hanoi)
    return token("steward-a", "steward", ["admin-units"])


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE])
def test_queries(api: Api, steward: str, mode: Mode) -> None:
    @SETTINGS
    @given(queries(SDL, custom_scalars=SCALARS, mode=mode))
    def run(document: str) -> None:
        _check(api, document, None)
        _check(api, document, steward)

    run()


def test_mutations(api: Api, steward: str) -> None:
    @SETTINGS
    @given(mutations(SDL, custom_scalars=SCALARS))
    def run(document: str) -> None:
        _check(api, document, steward)

    run()
