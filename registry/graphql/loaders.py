"""DataLoaders, created per request: each batch of keys becomes one statement per group.

Keys carry the record time (and the valid time where it matters), so that fields read at
different times in one request never share an answer by mistake.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from strawberry.dataloader import DataLoader

from registry.models import ChangeSet, CodeList, Operation, Release
from registry.services import graph_reads
from registry.services.graph_reads import Filters, Reader
from registry.services.queries import EntryView, HistoryItem, LinkView, Page

# (list, code, as_of, release)
EntryKey = tuple[str, str, date, int | None]
# (list, parent, as_of, release, first, filters)
ChildrenKey = tuple[str, str, date, int | None, int, Filters]
# (list, code, direction, release)
LinksKey = tuple[str, str, str, int | None]
# (list, code, release)
HistoryKey = tuple[str, str, int | None]

K = TypeVar("K", bound=tuple[Any, ...])
T = TypeVar("T")


G = TypeVar("G", bound=Hashable)


def _grouped(keys: Sequence[K], group: Callable[[K], G]) -> dict[G, list[K]]:
    out: dict[G, list[K]] = defaultdict(list)
    for key in keys:
        out[group(key)].append(key)
    return out


def entries_for(reader: Reader, keys: Sequence[EntryKey],
                parents: dict[EntryKey, EntryView | None] | None = None,
                ) -> list[EntryView | None]:
    """The version of each key (``None`` where there is none): a statement per group of
    keys sharing list, date and release. The entry loader's batch, callable without one.

    With ``parents``, the same statements also read the parents' versions and record them
    there by key, so that a parent asked for next needs no statement.
    """
    found: dict[EntryKey, EntryView] = {}
    for group, members in _grouped(keys, lambda k: (k[0], k[2], k[3])).items():
        list_key, as_of, release = group
        views = graph_reads.entries_by_codes(reader, list_key, [k[1] for k in members],
                                             as_of, release, parents is not None)
        for key in members:
            if key[1] in views:
                found[key] = views[key[1]]
        if parents is not None:
            parents.update(((list_key, code, as_of, release), view)
                           for code, view in views.items())
    return [found.get(key) for key in keys]


def children_for(reader: Reader, keys: Sequence[ChildrenKey]) -> list[Page]:
    """The first page of children of each key: a statement per group of keys sharing
    everything but the parent. The children loader's batch, callable without one."""
    found: dict[ChildrenKey, Page] = {}
    for group, members in _grouped(keys, lambda k: (k[0], k[2], k[3], k[4], k[5])).items():
        list_key, as_of, release, first, filters = group
        pages = graph_reads.children_pages(reader, list_key, [k[1] for k in members],
                                           filters, as_of, release, first)
        for key in members:
            found[key] = pages[key[1]]
    return [found[key] for key in keys]


class Loaders:
    """The DataLoaders of one request, all reading through the request's session."""

    def __init__(self, reader: Callable[[], Reader], session: Callable[[], Session],
                 read_session: Callable[[], Session] | None = None) -> None:
        self._reader = reader
        self._session = session
        self._read_session = read_session or session
        self.entry: DataLoader[EntryKey, EntryView | None] = DataLoader(self._entries)
        self.children: DataLoader[ChildrenKey, Page] = DataLoader(self._children)
        self.links: DataLoader[LinksKey, list[LinkView]] = DataLoader(self._links)
        self.history: DataLoader[HistoryKey, list[HistoryItem]] = DataLoader(self._history)
        self.code_list: DataLoader[str, CodeList | None] = DataLoader(self._code_lists)
        self.release: DataLoader[int, Release | None] = DataLoader(self._releases)
        self.change_set: DataLoader[int, ChangeSet | None] = DataLoader(self._change_sets)
        self.operations: DataLoader[int, list[Operation]] = DataLoader(self._operations)

    @property
    def reader(self) -> Reader:
        """Where entry reads run (registry.graphql.context.Context.reader)."""
        return self._reader()

    @property
    def session(self) -> Session:
        """The request's ORM session, for change sets, releases and code lists."""
        return self._session()

    async def _entries(self, keys: list[EntryKey]) -> list[EntryView | None]:
        return entries_for(self.reader, keys)

    async def _children(self, keys: list[ChildrenKey]) -> list[Page]:
        return children_for(self.reader, keys)

    async def _links(self, keys: list[LinksKey]) -> list[list[LinkView]]:
        found: dict[LinksKey, list[LinkView]] = {}
        for group, members in _grouped(keys, lambda k: (k[0], k[2], k[3])).items():
            list_key, direction, release = group
            links = graph_reads.links_by_code(self.reader, list_key, [k[1] for k in members],
                                              direction, release)
            for key in members:
                found[key] = links[key[1]]
        return [found[key] for key in keys]

    async def _history(self, keys: list[HistoryKey]) -> list[list[HistoryItem]]:
        found: dict[HistoryKey, list[HistoryItem]] = {}
        for group, members in _grouped(keys, lambda k: (k[0], k[2])).items():
            list_key, release = group
            items = graph_reads.histories(self.reader, list_key, [k[1] for k in members],
                                          release)
            for key in members:
                found[key] = items[key[1]]
        return [found[key] for key in keys]

    async def _code_lists(self, keys: list[str]) -> list[CodeList | None]:
        rows = {r.key: r for r in self._read_session().scalars(
            select(CodeList).where(CodeList.key.in_(sorted(set(keys)))))}
        return [rows.get(key) for key in keys]

    async def _releases(self, keys: list[int]) -> list[Release | None]:
        rows = {r.id: r for r in self._read_session().scalars(
            select(Release).where(Release.id.in_(sorted(set(keys)))))}
        return [rows.get(key) for key in keys]

    async def _change_sets(self, keys: list[int]) -> list[ChangeSet | None]:
        rows = {r.id: r for r in self.session.scalars(
            select(ChangeSet).where(ChangeSet.id.in_(sorted(set(keys)))))}
        return [rows.get(key) for key in keys]

    async def _operations(self, keys: list[int]) -> list[list[Operation]]:
        by_set: dict[int, list[Operation]] = defaultdict(list)
        for row in self.session.scalars(
            select(Operation).where(Operation.change_set_id.in_(sorted(set(keys))))
            .order_by(Operation.change_set_id, Operation.position)
        ):
            by_set[row.change_set_id].append(row)
        return [by_set.get(key, []) for key in keys]
