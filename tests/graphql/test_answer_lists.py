"""Which lists a cacheable answer reads (registry.graphql.answer_lists): what decides which
cached answers outlive a release."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import get_named_type, is_leaf_type

from registry.graphql.answer_lists import CROSS, LIST_DATA, AnswerLists
from registry.graphql.schema import schema

LISTS = AnswerLists(schema._schema)
# Fields of list data that return list data of the same list (reviewed): a field added to
# an entry that reads another list must go in CROSS instead, or the cache would keep an
# answer that a release of that other list changed.
SAME_LIST = frozenset({"parent", "ancestors", "children", "history", "successors",
                       "predecessors", "edges", "nodes", "node", "pageInfo", "entry"})


@pytest.mark.parametrize(("query", "variables", "expected"), [
    ('{ administrativeUnit(code: "001") { name parent { name } '
     "children(first: 30) { nodes { code } pageInfo { hasNextPage } } } }", None,
     {"admin-units"}),
    ('{ a: agency(code: "x") { name } b: administrativeUnit(code: "01") { name } }', None,
     {"agencies", "admin-units"}),
    ("query($l: String!) { entries(list: $l, first: 5) { nodes { code "
     "... on Agency { adminUnit { name } } } } }", {"l": "agencies"},
     {"agencies", "admin-units"}),
    ("{ procedures(first: 5) { nodes { implementingAgencies { name } } } }", None,
     {"procedures", "agencies"}),
    ('{ resolve(list: "admin-units", code: "00001") { status '
     "successors { entry { code } } } }", None, {"admin-units"}),
    ('{ entry(list: "agencies", code: "x") { ...F } } fragment F on Entry { '
     "history(first: 3) { name legalNumber } successors { entry { code } } }", None,
     {"agencies"}),
    ('{ entry(list: "agencies", code: "x") { __typename } }', None, {"agencies"}),
    # Anything else is "everything".
    ('{ administrativeUnit(code: "001") { releasedIn { number } } }', None, None),
    ('{ entry(list: "agencies", code: "x") { ... on Entry { codeList { key } } } }', None,
     None),
    ("{ codeLists { key } }", None, None),
    ("{ releases(first: 1) { nodes { number } } }", None, None),
    ("{ __schema { types { name } } }", None, None),
    ("query($l: String!) { entries(list: $l, first: 5) { nodes { code } } }", {}, None),
    ("query($l: String!) { entries(list: $l, first: 5) { nodes { code } } }", {"l": 5},
     None),
    ("{ not valid", None, None),
])
def test_the_lists_an_answer_reads(query: str, variables: dict[str, Any] | None,
                                   expected: set[str] | None) -> None:
    found = LISTS(query, variables)
    assert found == (None if expected is None else frozenset(expected))


def test_every_field_of_list_data_is_classified() -> None:
    """A field of list data that returns list data reads the same list, or is a known
    cross-list field; one that returns anything else makes the answer depend on
    everything (checked by the walk itself)."""
    unclassified = []
    for name in sorted(LIST_DATA - {"Query"}):
        for field_name, field in schema._schema.get_type(name).fields.items():  # type: ignore[union-attr]
            named = get_named_type(field.type)
            if is_leaf_type(named) or named.name not in LIST_DATA:
                continue
            if field_name not in SAME_LIST and (name, field_name) not in CROSS:
                unclassified.append(f"{name}.{field_name}")
    assert unclassified == []
    for (type_name, field_name), _ in CROSS.items():
        assert field_name in schema._schema.get_type(type_name).fields  # type: ignore[union-attr]
