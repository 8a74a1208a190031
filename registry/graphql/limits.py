"""Refusing hostile queries before they run.

Depth, aliases, tokens and introspection depth are checked by strawberry's and
graphql-core's validation rules. The cost is checked here, once the variables are known
(validation is cached per document, so it cannot see them): every field costs one per
object it may be resolved for, and a connection multiplies what is under it by its
``first``. Lists without ``first`` (history, lineage, references) count as
:data:`LIST_ESTIMATE` items each.

The conversion fields are priced by what they do rather than by their selection: reading
a gazetteer (:data:`CONVERSION_COST`) and converting each item (:data:`ITEM_COST`, for an
answer of bounded shape: a handful of candidates at most). One field of 1,000 items fits;
two of 1,000 each, or many aliases each reading a gazetteer, do not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from registry.graphql.conversion import ITEM_ARGUMENTS, MAX_ITEMS
from registry.services.graph_reads import MAX_FIRST

MAX_COST = 25_000
LIST_ESTIMATE = 10
CONVERSION_COST = 4_000
ITEM_COST = 15
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 2_000


class TooCostly(Exception):
    """The query would do more work than one request may."""


def _unwrap(type_: Any) -> tuple[Any, bool]:
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        if isinstance(type_, GraphQLList):
            is_list = True
        type_ = type_.of_type
    return type_, is_list


def _first(node: FieldNode, variables: Mapping[str, Any]) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value != "first":
            continue
        value: Any = None
        if isinstance(arg.value, IntValueNode):
            value = int(arg.value.value)
        elif isinstance(arg.value, VariableNode):
            value = variables.get(arg.value.name.value)
        if not isinstance(value, int) or isinstance(value, bool):
            return None  # a wrong type is reported by validation/coercion
        if not 1 <= value <= MAX_FIRST:
            raise TooCostly(f"first must be between 1 and {MAX_FIRST}, not {value}")
        return value
    return None


def _items(node: FieldNode, argument: str, variables: Mapping[str, Any]) -> int:
    """How many items a conversion field is given (a wrong type is coercion's to report).

    More than :data:`MAX_ITEMS` count as one more: the field refuses them with a typed
    error before any work, which tells the client more than "too costly" would.
    """
    for arg in node.arguments or ():
        if arg.name.value != argument:
            continue
        value: Any = None
        if isinstance(arg.value, ListValueNode):
            value = arg.value.values
        elif isinstance(arg.value, VariableNode):
            value = variables.get(arg.value.name.value)
        else:
            return 1  # a single value is coerced to a list of one
        count = len(value) if isinstance(value, list | tuple) else 1 if value else 0
        return min(count, MAX_ITEMS + 1)
    return 0


def _page_of(owner: Any, name: str) -> bool:
    """``edges``/``nodes`` of a connection: already counted by the connection's ``first``."""
    return name in ("edges", "nodes") and str(getattr(owner, "name", "")).endswith("Connection")


def _items_of_conversion(owner: Any, name: str) -> bool:
    return name == "items" and getattr(owner, "name", "") == "ConversionResult"


class CostCounter:
    """Sums the worst-case number of resolved fields of one operation."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.total = 0

    def _fields(self, selection_set: SelectionSetNode, parent: Any,
                seen: frozenset[str]) -> Iterator[tuple[FieldNode, Any]]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                cond = selection.type_condition
                target = self.schema.get_type(cond.name.value) if cond else parent
                yield from self._fields(selection.selection_set, target or parent, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue  # validation reports unknown and cyclic fragments
                target = self.schema.get_type(fragment.type_condition.name.value)
                yield from self._fields(fragment.selection_set, target or parent, seen | {name})

    def count(self, selection_set: SelectionSetNode, parent: Any, multiplier: int,
              seen: frozenset[str] = frozenset()) -> None:
        """Add the cost of ``selection_set`` resolved ``multiplier`` times."""
        for node, owner in self._fields(selection_set, parent, seen):
            name = node.name.value
            if name.startswith("__"):
                continue  # introspection is bounded by its own depth rule and the token limit
            self.total += multiplier
            argument = ITEM_ARGUMENTS.get(name) if owner is self.schema.query_type else None
            if argument is not None:
                items = _items(node, argument, self.variables)
                self.total += multiplier * (CONVERSION_COST + ITEM_COST * items)
            if self.total > MAX_COST:
                raise TooCostly(f"the query may resolve more than {MAX_COST} fields; ask for "
                                "smaller pages, fewer nested lists or fewer items to "
                                "convert")
            if node.selection_set is None:
                continue
            field = None
            if isinstance(owner, GraphQLObjectType | GraphQLInterfaceType):
                field = owner.fields.get(name)
            if field is None:
                continue
            inner, is_list = _unwrap(field.type)
            first = _first(node, self.variables)
            if first is not None:
                size = first
            elif _items_of_conversion(owner, name):
                size = 1  # the items are priced by ITEM_COST above
            elif is_list and not _page_of(owner, name):
                size = LIST_ESTIMATE
            else:
                size = 1
            if isinstance(inner, GraphQLUnionType):
                inner = None  # members are reached through inline fragments
            self.count(node.selection_set, inner, multiplier * size, seen)


def operation_cost(schema: GraphQLSchema, operation: OperationDefinitionNode,
                   fragments: Mapping[str, FragmentDefinitionNode],
                   variables: Mapping[str, Any]) -> int:
    """The worst-case field count of ``operation``; :class:`TooCostly` past the limit."""
    root = (schema.mutation_type if operation.operation.value == "mutation"
            else schema.query_type)
    counter = CostCounter(schema, fragments, variables)
    counter.count(operation.selection_set, root, 1)
    return counter.total


class CostLimiter(SchemaExtension):
    """Refuses an operation whose cost is over :data:`MAX_COST` before it executes."""

    def on_execute(self) -> Iterator[None]:
        """Count the operation with its variables; over the limit, skip execution."""
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            fragments = {d.name.value: d for d in document.definitions
                         if isinstance(d, FragmentDefinitionNode)}
            operations = [d for d in document.definitions
                          if isinstance(d, OperationDefinitionNode)
                          and (context.operation_name is None
                               or (d.name and d.name.value == context.operation_name))]
            try:
                for operation in operations[:1]:
                    operation_cost(context.schema._schema, operation, fragments,
                                   context.variables or {})
            except TooCostly as exc:
                # A result set here makes strawberry skip execution altogether.
                context.result = GraphQLExecutionResult(
                    data=None, errors=[GraphQLError(str(exc), extensions={"code": "too_costly"})])
        yield
