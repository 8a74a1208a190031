"""Real bounds for the lists that are not Relay connections.

A list without a bound cannot be costed: a change set's operations may hold 20,000 items
and an estimate of ten lets one request read them all under every alias. So each such
list either takes a page (``first``, with a default and a maximum, and ``offset``), which
the resolver applies, or has a hard cap the resolver enforces with a clear error (the
lists that are small by nature: a hierarchy's ancestors, a resolution's successors). The
cost limit (:mod:`registry.graphql.limits`) reads both tables, so what it counts is what
the resolver can return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from registry.errors import ValidationError

T = TypeVar("T")


@dataclass(frozen=True)
class PageBound:
    """A list field's ``first`` default and maximum."""

    default: int
    maximum: int


# By field name (GraphQL spelling): the same field has the same bound on every type.
PAGED: dict[str, PageBound] = {
    "history": PageBound(20, 100),
    "successors": PageBound(20, 100),
    "predecessors": PageBound(20, 100),
    "implementingAgencies": PageBound(20, 100),
    "operations": PageBound(100, 1_000),
    "events": PageBound(100, 1_000),
    "comments": PageBound(100, 1_000),
}
"""Lists that page by ``first``/``offset``."""

CAPPED: dict[tuple[str, str], int] = {
    ("Entry", "ancestors"): 16,
    ("Resolution", "successors"): 100,
    ("Query", "codeLists"): 200,
    ("DefineCodeListsPayload", "codeLists"): 200,
    ("CodeList", "levels"): 20,
    ("Query", "syncConsumers"): 1_000,
    ("ValidationError", "problems"): 1_000,
    ("PreviewPayload", "problems"): 1_000,
    ("Conversion", "new"): 50,
    ("Conversion", "alternatives"): 50,
    ("ConversionResult", "counts"): 4,
}
"""Lists with a hard cap, by (type, field); a type's interfaces share its caps."""


def page(items: Sequence[T], field: str, first: int | None, offset: int) -> list[T]:
    """``items[offset:offset+first]`` after checking both against the field's bound."""
    bound = PAGED[field]
    size = bound.default if first is None else first
    check_page(field, size, offset)
    return list(items[offset:offset + size])


def check_page(field: str, first: int, offset: int) -> None:
    """A ``first`` within the field's bound and a non-negative ``offset``, or a ValidationError."""
    bound = PAGED[field]
    if not 1 <= first <= bound.maximum:
        raise ValidationError("first", "range", f"of {field} must be between 1 and "
                                                f"{bound.maximum}")
    if offset < 0:
        raise ValidationError("offset", "range", f"of {field} must be 0 or more")


def capped(items: Sequence[T], type_name: str, field: str) -> list[T]:
    """``items`` if within the field's cap; beyond it a one-line error naming the field."""
    cap = CAPPED[(type_name, field)]
    if len(items) > cap:
        raise ValidationError(field, "max_items", f"has {len(items)} items, more than the "
                                                  f"{cap} one answer may hold")
    return list(items)
