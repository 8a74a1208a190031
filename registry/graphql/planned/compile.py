"""Compiling a document into a plan: which fields, under which keys, read how.

A plan is made once per document text and operation name (a bounded cache keeps it, and
keeps "not plannable" too, so a document the planner does not know costs one dictionary
lookup). It exists only for a document that the ordinary path would accept as it stands:
one query operation, no fragments or directives, under the token limit, valid against the
schema, and, where its cost does not depend on variables, within the cost limits.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import VariableValues, get_argument_values
from graphql.validation import ASTValidationRule

from registry.graphql.ids import to_global
from registry.graphql.limits import MAX_TOKENS, TooCostly, count_tokens, operation_cost
from registry.graphql.types import ResolutionStatus, entry_class

Value = Callable[[Any, Any], Any]
"""A scalar field's JSON value from its object (and the object's ``When``)."""

# Shapes of the objects a plan writes; each has its scalar fields and its relations.
ROOT, ENTRY, CONNECTION, EDGE, PAGE_INFO, RESOLUTION, SUCCESSOR = (
    "root", "entry", "connection", "edge", "page_info", "resolution", "successor")


@dataclass(frozen=True, slots=True)
class Arguments:
    """A field's arguments: computed once when no variable is involved."""

    field: GraphQLField
    node: FieldNode
    fixed: dict[str, Any] | None

    def values(self, variables: VariableValues) -> dict[str, Any]:
        """The coerced argument values (GraphQL names), defaults included."""
        if self.fixed is not None:
            return self.fixed
        return get_argument_values(self.field, self.node, variables)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a selection: a scalar (``value``) or a relation (``sub``)."""

    key: str
    name: str
    value: Value | None = None
    arguments: Arguments | None = None
    sub: tuple[Field, ...] = ()
    type_name: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled query operation."""

    document: DocumentNode
    operation: OperationDefinitionNode
    fields: tuple[Field, ...]
    cost_varies: bool


class Unplanned(Exception):
    """Raised while running a plan: answer this request the ordinary way."""


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _string(value: Any) -> Any:
    return None if value is None else GraphQLString.serialize(value)


def _strings(value: Any) -> list[str]:
    out = []
    for item in value or []:
        if item is None:
            raise Unplanned("a null in a list of non-null strings")
        out.append(GraphQLString.serialize(item))
    return out


def _attribute(name: str) -> Value:
    return lambda v, w: _string(v.attributes.get(name))


@functools.cache
def _type_name(list_key: str) -> str:
    return str(entry_class(list_key).__strawberry_definition__.name)  # type: ignore[attr-defined]


ENTRY_VALUES: dict[str, Value] = {
    "id": lambda v, w: to_global("Entry", f"{v.list_key}:{v.code}"),
    "list": lambda v, w: v.list_key,
    "code": lambda v, w: v.code,
    "name": lambda v, w: v.name,
    "shortName": lambda v, w: v.short_name,
    "nameEn": lambda v, w: v.name_en,
    "type": lambda v, w: v.type,
    "level": lambda v, w: v.level,
    "status": lambda v, w: v.status,
    "validFrom": lambda v, w: v.valid_from.isoformat(),
    "validTo": lambda v, w: _iso(v.valid_to),
    "attributes": lambda v, w: v.attributes,
    "recordedRelease": lambda v, w: v.recorded_release,
    "asOf": lambda v, w: w.as_of.isoformat(),
    "__typename": lambda v, w: _type_name(v.list_key),
}
"""Fields every entry type has, read from its version (registry.graphql.types.Entry)."""

TYPED_VALUES: dict[str, dict[str, Value]] = {
    "Agency": {name: _attribute(name) for name in ("address", "email", "phone", "website")},
    "Procedure": {
        "fieldCode": _attribute("field_code"), "fieldName": _attribute("field_name"),
        "onlineLevel": _attribute("online_level"),
        "processingTime": _attribute("processing_time"), "fees": _attribute("fees"),
        "levels": lambda v, w: _strings(v.attributes.get("levels")),
    },
}
"""Attribute fields of the typed entries (registry.graphql.types.Agency, Procedure)."""

_STATUS_NAMES = {member.value: member.name for member in ResolutionStatus}

VALUES: dict[str, dict[str, Value]] = {
    ROOT: {},
    ENTRY: ENTRY_VALUES,
    CONNECTION: {},
    EDGE: {"cursor": lambda e, w: e[0].cursor(e[1])},  # (page, index)
    PAGE_INFO: {"hasNextPage": lambda p, w: p.has_next,
                "hasPreviousPage": lambda p, w: p.has_previous,
                "startCursor": lambda p, w: p.cursor(0),
                "endCursor": lambda p, w: p.cursor(-1)},
    RESOLUTION: {"list": lambda r, w: r.list_key, "code": lambda r, w: r.code,
                 "asOf": lambda r, w: r.on.isoformat(),
                 "status": lambda r, w: _STATUS_NAMES[r.status],
                 "endedOn": lambda r, w: _iso(r.ended_on),
                 "dividedOn": lambda r, w: _iso(r.divided_on),
                 "ambiguous": lambda r, w: r.ambiguous},
    SUCCESSOR: {"isDefault": lambda s, w: s.is_default, "kinds": lambda s, w: list(s.kinds),
                "share": lambda s, w: (None if s.share is None
                                       else GraphQLFloat.serialize(s.share))},
}

RELATIONS: dict[str, dict[str, str]] = {
    ROOT: {"entry": ENTRY, "administrativeUnit": ENTRY, "agency": ENTRY, "procedure": ENTRY,
           "entries": CONNECTION, "administrativeUnits": CONNECTION, "agencies": CONNECTION,
           "procedures": CONNECTION, "resolve": RESOLUTION},
    ENTRY: {"parent": ENTRY, "children": CONNECTION},
    CONNECTION: {"nodes": ENTRY, "edges": EDGE, "pageInfo": PAGE_INFO},
    EDGE: {"node": ENTRY},
    PAGE_INFO: {},
    RESOLUTION: {"entry": ENTRY, "successors": SUCCESSOR},
    SUCCESSOR: {"entry": ENTRY},
}
"""Fields that lead to other objects, and the shape of those objects."""


def _uses_variables(node: ValueNode) -> bool:
    if isinstance(node, VariableNode):
        return True
    if isinstance(node, ListValueNode):
        return any(_uses_variables(v) for v in node.values)
    if isinstance(node, ObjectValueNode):
        return any(_uses_variables(f.value) for f in node.fields)
    return False


def _arguments(field: GraphQLField, node: FieldNode) -> Arguments:
    varies = any(_uses_variables(a.value) for a in node.arguments or ())
    return Arguments(field, node, None if varies else get_argument_values(field, node))


def _value(shape: str, owner: GraphQLObjectType | GraphQLInterfaceType,
           name: str) -> Value | None:
    if name == "__typename" and shape != ENTRY:
        type_name = owner.name
        return lambda source, when: type_name
    found = VALUES[shape].get(name)
    if found is None and shape == ENTRY:
        found = TYPED_VALUES.get(owner.name, {}).get(name)
    return found


def _selection(owner: Any, selection_set: SelectionSetNode | None,
               shape: str) -> tuple[Field, ...] | None:
    if selection_set is None or not isinstance(owner, GraphQLObjectType
                                               | GraphQLInterfaceType):
        return None
    fields: list[Field] = []
    keys: set[str] = set()
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives:
            return None
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        if key in keys:
            return None  # graphql-core would merge the two: leave that to it
        keys.add(key)
        value = _value(shape, owner, name)
        if value is not None:
            if selection.arguments:
                return None
            fields.append(Field(key, name, value=value))
            continue
        sub_shape = RELATIONS[shape].get(name)
        definition = owner.fields.get(name)
        if sub_shape is None or definition is None:
            return None
        sub_type = get_named_type(definition.type)
        sub = _selection(sub_type, selection.selection_set, sub_shape)
        if sub is None:
            return None
        fields.append(Field(key, name, arguments=_arguments(definition, selection), sub=sub,
                            type_name=sub_type.name))
    return tuple(fields)


def _firsts(selection_set: SelectionSetNode | None) -> Iterator[ArgumentNode]:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield from (a for a in selection.arguments or () if a.name.value in ("first", "offset"))
            yield from _firsts(selection.selection_set)


def compile_plan(schema: GraphQLSchema, rules: list[type[ASTValidationRule]], query: str,
                 operation_name: str | None) -> Plan | None:
    """The plan of ``query``, or ``None`` when the ordinary path must answer it."""
    if count_tokens(query, MAX_TOKENS) > MAX_TOKENS:
        return None
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if (not isinstance(operation, OperationDefinitionNode)
            or operation.operation != OperationType.QUERY or operation.directives
            or (operation_name is not None
                and (operation.name is None or operation.name.value != operation_name))):
        return None
    if validate(schema, document, [*specified_rules, *rules]):
        return None
    try:
        fields = _selection(schema.query_type, operation.selection_set, ROOT)
    except GraphQLError:
        return None
    if not fields:
        return None
    cost_varies = any(_uses_variables(a.value) for a in _firsts(operation.selection_set))
    if not cost_varies:
        try:
            operation_cost(schema, document, operation_name, {})
        except TooCostly:
            return None
    return Plan(document, operation, fields, cost_varies)


class Plans:
    """Plans by (document, operation name), bounded; "not plannable" is remembered too."""

    def __init__(self, schema: GraphQLSchema, rules: list[type[ASTValidationRule]],
                 maxsize: int = 256) -> None:
        self.schema = schema
        self.rules = rules
        self.maxsize = maxsize
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, query: str, operation_name: str | None) -> Plan | None:
        """The plan of a document, compiled on first sight."""
        key = (query, operation_name)
        with self._lock:
            if key in self._plans:
                self._plans.move_to_end(key)
                return self._plans[key]
        plan = compile_plan(self.schema, self.rules, query, operation_name)
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > self.maxsize:
                self._plans.popitem(last=False)
        return plan
