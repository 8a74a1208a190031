"""Which code lists a cacheable answer reads, so that a release changing none of them keeps
it in the response cache (registry.services.cache).

The document is walked with its types. An answer depends on

- the list of each root field: the typed roots' own (``agencies`` with an ``adminUnit``
  filter, and ``procedures`` with an ``agency`` filter, read the other list too), and the
  ``list`` argument of ``entry``, ``entries`` and ``resolve`` (a literal or a variable);
- the list a cross-list field reads from an entry (:data:`CROSS`): an agency's
  ``adminUnit``, a procedure's agencies.

Every other object a field returns must be one of :data:`LIST_DATA`, whose fields read the
same list's versions and links (parents, children, history, lineage, resolutions, pages).
Anything else (releases, change sets, code list definitions, introspection, a root field
not listed here, a ``list`` argument that cannot be read) makes the answer depend on
everything: ``None``, and it is dropped by the next release, as every answer was before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from threading import Lock
from typing import Any

from graphql import (
    BREAK,
    DocumentNode,
    FieldNode,
    GraphQLSchema,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableNode,
    Visitor,
    get_named_type,
    is_leaf_type,
    parse,
    visit,
)
from graphql.error import GraphQLError

# Object types whose fields read only the list of the entry they hang from.
LIST_DATA = frozenset({
    "Query", "Entry", "GenericEntry", "AdministrativeUnit", "Agency", "Procedure",
    "EntryConnection", "EntryEdge", "AdministrativeUnitConnection", "AdministrativeUnitEdge",
    "AgencyConnection", "AgencyEdge", "ProcedureConnection", "ProcedureEdge", "PageInfo",
    "EntryRecord", "LineageLink", "Resolution", "ResolvedSuccessor",
})
# Fields of an entry that read another list.
CROSS: dict[tuple[str, str], str] = {
    ("Agency", "adminUnit"): "admin-units",
    ("Procedure", "implementingAgencies"): "agencies",
    ("Procedure", "competentAgency"): "agencies",
}
# Root fields and the lists they read, whatever their arguments.
ROOTS: dict[str, tuple[str, ...]] = {
    "administrativeUnit": ("admin-units",), "administrativeUnits": ("admin-units",),
    "agency": ("agencies",), "agencies": ("agencies", "admin-units"),
    "procedure": ("procedures",), "procedures": ("procedures", "agencies"),
}
# Root fields that read the list their ``list`` argument names.
BY_ARGUMENT = frozenset({"entry", "entries", "resolve"})


def _list_argument(node: FieldNode, variables: Mapping[str, Any]) -> str | None:
    for argument in node.arguments or ():
        if argument.name.value != "list":
            continue
        value = argument.value
        if isinstance(value, StringValueNode):
            return value.value
        if isinstance(value, VariableNode):
            found = variables.get(value.name.value)
            return found if isinstance(found, str) else None
    return None


class _Walk(Visitor):
    def __init__(self, type_info: TypeInfo, variables: Mapping[str, Any]) -> None:
        super().__init__()
        self.type_info = type_info
        self.variables = variables
        self.lists: set[str] = set()
        self.everything = False

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        name = node.name.value
        if name == "__typename":
            return None
        parent = self.type_info.get_parent_type()
        field = self.type_info.get_field_def()
        if parent is None or field is None or name.startswith("__"):
            return self._everything()
        if parent.name == "Query":
            if name in ROOTS:
                self.lists.update(ROOTS[name])
            elif name in BY_ARGUMENT:
                found = _list_argument(node, self.variables)
                if found is None:
                    return self._everything()
                self.lists.add(found)
            else:
                return self._everything()
        cross = CROSS.get((parent.name, name))
        if cross is not None:
            self.lists.add(cross)
        named = get_named_type(field.type)
        if not is_leaf_type(named) and named.name not in LIST_DATA:
            return self._everything()
        return None

    def _everything(self) -> Any:
        self.everything = True
        return BREAK


class AnswerLists:
    """:func:`lists_read` with the parsed documents kept (a bounded LRU by text)."""

    def __init__(self, schema: GraphQLSchema, maxsize: int = 512) -> None:
        self.schema = schema
        self.maxsize = maxsize
        self._documents: OrderedDict[str, DocumentNode | None] = OrderedDict()
        self._lock = Lock()

    def _document(self, query: str) -> DocumentNode | None:
        with self._lock:
            if query in self._documents:
                self._documents.move_to_end(query)
                return self._documents[query]
        try:
            document: DocumentNode | None = parse(query)
        except GraphQLError:
            document = None
        with self._lock:
            self._documents[query] = document
            while len(self._documents) > self.maxsize:
                self._documents.popitem(last=False)
        return document

    def __call__(self, query: str, variables: Mapping[str, Any] | None) -> frozenset[str] | None:
        """The lists the answer to ``query`` reads, or ``None`` for "everything"."""
        document = self._document(query)
        if document is None:
            return None
        return lists_read(self.schema, document, variables or {})


def lists_read(schema: GraphQLSchema, document: DocumentNode,
               variables: Mapping[str, Any]) -> frozenset[str] | None:
    """The code lists an answer to ``document`` reads, or ``None`` when it may read
    anything else (see the module's notes)."""
    type_info = TypeInfo(schema)
    walk = _Walk(type_info, variables)
    visit(document, TypeInfoVisitor(type_info, walk))
    return None if walk.everything else frozenset(walk.lists)
