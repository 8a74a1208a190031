"""Running a plan: each level of the selection read in one batch, the answer written directly.

Every read goes through the function its resolver uses (the DataLoaders' batches, the
services' pages and resolution), at the same ``When``, so the two ways cannot read
differently; only the bookkeeping between the rows and the JSON is gone. An error of the
request (a bad date, an unknown list or code, a release that is not published) raises
:class:`Unplanned`-like exceptions that send the request the ordinary way, which words it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql.execution.values import VariableValues

from registry.graphql.bounds import capped
from registry.graphql.context import Context, When
from registry.graphql.loaders import ChildrenKey, EntryKey, children_for, entries_for
from registry.graphql.planned.compile import Field, Unplanned
from registry.graphql.query import list_filters
from registry.services import graph_reads
from registry.services.graph_reads import Filters, Reader
from registry.services.queries import EntryView, Page, Resolution, Successor, encode_cursor
from registry.text import fold

_ONE = {"entry": None, "administrativeUnit": "admin-units", "agency": "agencies",
        "procedure": "procedures"}
_PAGES = {"entries": None, "administrativeUnits": "admin-units", "agencies": "agencies",
          "procedures": "procedures"}
# GraphQL argument names to the resolvers' Python names, where they differ.
_PYTHON = {"list": "list_key", "asOf": "as_of", "atRelease": "at_release",
           "adminUnit": "admin_unit", "competentAgency": "competent_agency",
           "fieldCode": "field_code", "carriedOutAt": "carried_out_at"}

Item = tuple[EntryView, When]


@dataclass(frozen=True, slots=True)
class PageOf:
    """One connection's items, as registry.graphql.types.entry_connection sees them."""

    items: list[EntryView]
    has_next: bool
    has_previous: bool
    by_name: bool
    when: When

    def cursor(self, index: int) -> str | None:
        """The cursor of an item (the same as the connection's edges carry)."""
        if not self.items:
            return None
        view = self.items[index]
        return encode_cursor([fold(view.name), view.code] if self.by_name else [view.code])


class Runner:
    """Runs the fields of one operation for one request."""

    def __init__(self, context: Context, reader: Reader, variables: VariableValues) -> None:
        self.context = context
        self.reader = reader
        self.variables = variables
        self._known: dict[EntryKey, EntryView | None] = {}
        self._pages: dict[ChildrenKey, Page] = {}

    def _load(self, keys: list[EntryKey], parents: bool = False) -> list[EntryView | None]:
        """Versions by key, each read once per request (as the entry DataLoader caches);
        with ``parents``, their parents are read in the same statement, for later."""
        missing = [key for key in keys if key not in self._known]
        if missing:
            also: dict[EntryKey, EntryView | None] | None = {} if parents else None
            found = entries_for(self.reader, missing, also)
            self._known.update(zip(missing, found, strict=True))
            if also is not None:
                for key, view in zip(missing, found, strict=True):
                    if view is not None and view.parent is not None:
                        parent = (key[0], view.parent, key[2], key[3])
                        self._known.setdefault(parent, also.get(parent))
        return [self._known[key] for key in keys]

    def data(self, fields: Sequence[Field]) -> dict[str, Any]:
        """The ``data`` of the answer."""
        return {field.key: self._root(field) for field in fields}

    def _root(self, field: Field) -> Any:
        if field.value is not None:
            return field.value(None, None)
        assert field.arguments is not None
        args = {_PYTHON.get(k, k): v for k, v in field.arguments.values(self.variables).items()}
        when = self.context.when(args.pop("as_of", None), args.pop("at_release", None),
                                 self.reader)
        reader = self.reader
        if field.name in _ONE:
            key = (_ONE[field.name] or args["list_key"], args["code"], when.as_of, when.release)
            parents = any(f.name == "parent" for f in field.sub)
            children = self._children_asked(field.sub)
            if children is not None and key not in self._known:
                self._family(key, parents, *children)
            view = self._load([key], parents)[0]
            return None if view is None else self.entries(field.sub, [(view, when)])[0]
        if field.name in _PAGES:
            list_key = _PAGES[field.name] or args.pop("list_key")
            first, after = args.pop("first"), args.pop("after", None)
            filters = list_filters(**args)
            page = graph_reads.page_entries(reader, list_key, filters, when.as_of,
                                            when.release, first, after)
            found = PageOf(page.items, page.has_next, after is not None, bool(filters.search),
                           when)
            return self.connections(field.sub, [found])[0]
        resolution = graph_reads.resolve(reader, args["list_key"], args["code"], when.as_of,
                                         when.release)
        return self.resolution(field.sub, resolution, when)

    # -- entries ------------------------------------------------------------------------

    def entries(self, fields: Sequence[Field], items: Sequence[Item]) -> list[dict[str, Any]]:
        """The objects of many entries, their relations read a level at a time."""
        columns = [None if f.value is not None else self._relation(f, items) for f in fields]
        plan = list(zip(fields, columns, strict=True))
        out = []
        for index, (view, when) in enumerate(items):
            row: dict[str, Any] = {}
            for field, column in plan:
                row[field.key] = (field.value(view, when) if column is None  # type: ignore[misc]
                                  else column[index])
            out.append(row)
        return out

    def _relation(self, field: Field, items: Sequence[Item]) -> list[Any]:
        if field.name == "parent":
            return self._parents(field, items)
        return self._children(field, items)

    def _parents(self, field: Field, items: Sequence[Item]) -> list[Any]:
        keys: list[EntryKey | None] = [
            None if view.parent is None else (view.list_key, view.parent, when.as_of,
                                              when.release)
            for view, when in items]
        wanted = list(dict.fromkeys(k for k in keys if k is not None))
        found = [(key, view) for key, view in zip(wanted, self._load(wanted), strict=True)
                 if view is not None]
        objects = self.entries(field.sub, [(view, When(key[2], key[3])) for key, view in found])
        by_key = {key: obj for (key, _), obj in zip(found, objects, strict=True)}
        return [None if key is None else by_key.get(key) for key in keys]

    def _children_args(self, field: Field) -> tuple[int, Filters]:
        assert field.arguments is not None
        args = field.arguments.values(self.variables)
        if args.get("after") is not None:
            raise Unplanned("children after a cursor")
        return args["first"], Filters(type=args.get("type"), level=args.get("level"),
                                      status=args.get("status"))

    def _children_asked(self, fields: Sequence[Field]) -> tuple[int, Filters] | None:
        """``children``'s page size and filters, if the selection asks for them."""
        found = next((f for f in fields if f.name == "children"), None)
        return None if found is None else self._children_args(found)

    def _family(self, key: EntryKey, parents: bool, first: int, filters: Filters) -> None:
        """An entry, its parent and its children's first page in one statement, kept for
        the fields that ask for them."""
        list_key, code, as_of, release = key
        versions, pages = graph_reads.family(self.reader, list_key, [code], as_of, release,
                                             parents, first, filters)
        view = versions.get(code)
        self._known[key] = view
        if view is not None and parents and view.parent is not None:
            self._known[(list_key, view.parent, as_of, release)] = versions.get(view.parent)
        if code in pages:
            self._pages[(list_key, code, as_of, release, first, filters)] = pages[code]

    def _children(self, field: Field, items: Sequence[Item]) -> list[Any]:
        first, filters = self._children_args(field)
        keys: list[ChildrenKey] = [(view.list_key, view.code, when.as_of, when.release, first,
                                    filters) for view, when in items]
        missing = [key for key in keys if key not in self._pages]
        if missing:
            self._pages.update(zip(missing, children_for(self.reader, missing), strict=True))
        pages = [self._pages[key] for key in keys]
        return self.connections(field.sub, [PageOf(page.items, page.has_next, False, False, when)
                                            for page, (_, when) in zip(pages, items, strict=True)])

    # -- connections --------------------------------------------------------------------

    def connections(self, fields: Sequence[Field], pages: Sequence[PageOf]) -> list[dict[str, Any]]:
        """The connection objects of many pages; their nodes are written in one batch."""
        out: list[dict[str, Any]] = [{} for _ in pages]
        flat = [(view, page.when) for page in pages for view in page.items]
        for field in fields:
            if field.value is not None:
                for row, page in zip(out, pages, strict=True):
                    row[field.key] = field.value(page, page.when)
            elif field.name == "pageInfo":
                for row, page in zip(out, pages, strict=True):
                    row[field.key] = {f.key: f.value(page, page.when)  # type: ignore[misc]
                                      for f in field.sub}
            else:
                nodes = self._nodes(field, pages, flat)
                start = 0
                for row, page in zip(out, pages, strict=True):
                    row[field.key] = nodes[start:start + len(page.items)]
                    start += len(page.items)
        return out

    def _nodes(self, field: Field, pages: Sequence[PageOf], flat: list[Item]) -> list[Any]:
        if field.name == "nodes":
            return self.entries(field.sub, flat)
        node = next((f for f in field.sub if f.name == "node"), None)
        objects = self.entries(node.sub, flat) if node is not None else [None] * len(flat)
        places = [(page, index) for page in pages for index in range(len(page.items))]
        return [{f.key: obj if f.name == "node" else f.value(place, None)  # type: ignore[misc]
                 for f in field.sub} for place, obj in zip(places, objects, strict=True)]

    # -- resolutions --------------------------------------------------------------------

    def resolution(self, fields: Sequence[Field], found: Resolution,
                   when: When) -> dict[str, Any]:
        """The object of a resolution."""
        row: dict[str, Any] = {}
        for field in fields:
            if field.value is not None:
                row[field.key] = field.value(found, when)
            elif field.name == "entry":
                row[field.key] = (None if found.entry is None
                                  else self.entries(field.sub, [(found.entry, when)])[0])
            else:
                successors = capped(found.successors, "Resolution", "successors")
                row[field.key] = self._successors(field.sub, successors, when)
        return row

    def _successors(self, fields: Sequence[Field], successors: list[Successor],
                    when: When) -> list[dict[str, Any]]:
        entry = next((f for f in fields if f.name == "entry"), None)
        objects = (self.entries(entry.sub, [(s.entry, when) for s in successors])
                   if entry is not None else [None] * len(successors))
        out = []
        for successor, obj in zip(successors, objects, strict=True):
            out.append({f.key: obj if f.name == "entry" else f.value(successor, when)  # type: ignore[misc]
                        for f in fields})
        return out
