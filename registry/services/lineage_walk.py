"""Walking lineage links forward or backward in time.

Links join versions of a code on a date, not codes: a code may be reused (the new 09988 Hòa
Lạc is not the old 09988 Thạch Hòa). :func:`walk` therefore follows a successor only by its
links effective after the link that reached it, and a predecessor only by its links
effective before, as ``resolve`` does; a walk by codes alone would chain generations. The
CLI's and GraphQL's ``lineage`` and the web page's picture all walk here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any, ClassVar, Protocol, TypeVar


class Link(Protocol):
    """What the walk reads of a link (a frozen dataclass, so that its depth can be set)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def from_code(self) -> str: ...
    @property
    def to_code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def effective_date(self) -> date: ...
    @property
    def change_set_id(self) -> int | None: ...


L = TypeVar("L", bound=Link)


def walk(code: str, direction: str,
         direct: Callable[[Sequence[str]], list[L]]) -> list[L]:
    """The links reached from ``code`` forward in time (``successors``) or backward.

    ``direct(codes)`` answers the direct links from (to) ``codes``, e.g.
    ``queries.links_of``. A link reaching a code on a day continues only by that code's
    links strictly after (before) that day: links of one change set all describe the same
    before and after, so one on the same day belongs to another generation of the code.
    Each link is listed once, with ``depth`` the hops from ``code``.
    """
    forward = direction == "successors"
    # The most permissive bound each code was reached with; None means any date.
    bound: dict[str, date | None] = {code: None}
    frontier: dict[str, date | None] = {code: None}
    out: list[L] = []
    listed: set[tuple[str, str, str, date, int | None]] = set()
    depth = 1
    while frontier:
        following: dict[str, date | None] = {}
        for link in direct(sorted(frontier)):
            near, far = ((link.from_code, link.to_code) if forward
                         else (link.to_code, link.from_code))
            if near not in frontier or not _within(frontier[near], link.effective_date,
                                                   forward):
                continue
            key = (link.from_code, link.to_code, link.kind, link.effective_date,
                   link.change_set_id)
            if key in listed:
                continue
            listed.add(key)
            out.append(replace(link, depth=depth))
            # Reached again by a link that opens more of its links: walk it again.
            if far not in bound or _wider(link.effective_date, bound[far], forward):
                bound[far] = link.effective_date
                if far not in following or _wider(link.effective_date, following[far],
                                                  forward):
                    following[far] = link.effective_date
        frontier = following
        depth += 1
    return out


def _wider(day: date, than: date | None, forward: bool) -> bool:
    """Whether a code reached on ``day`` may follow more links than one reached on ``than``."""
    return than is not None and (day < than if forward else day > than)


def _within(limit: date | None, day: date, forward: bool) -> bool:
    return limit is None or (day > limit if forward else day < limit)
