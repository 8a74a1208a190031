"""Refusing hostile queries before they run, in time linear in the document.

One pass over the chosen operation computes its depth, its number of aliases and its cost,
and refuses it before graphql-core validates it: validation rules that expand fragments
(strawberry's depth and alias limiters do) take time exponential in a document of
fragments that each spread the next one twice, so they are replaced by this pass. The pass
itself never expands a fragment twice: the summary of each fragment (cost, depth,
aliases) is computed once and a spread costs the fragment's summary times the spread's
multiplier. Sums saturate just past the limits, so a fan-out of 2^40 stays a small number.

The cost is the worst-case number of resolved fields, with the request's variables:

- a connection multiplies what is under it by its ``first``, taken from the literal, the
  variable's value, the variable's default, or the field's default, in that order;
- a list that is not a connection multiplies by its real bound (:mod:`registry.graphql.bounds`):
  its ``first`` (default and maximum per field), or its hard cap;
- ``__schema`` and ``__type`` cost what the schema can return: its number of types,
  fields, arguments, values and directives (or those of its largest type);
- ``changeSet.preview`` and ``previewChangeSet`` cost :data:`PREVIEW_COST` (a plan, even
  cached, is big);
- the conversion fields are priced by what they do: reading a gazetteer
  (:data:`CONVERSION_COST`) and converting each item (:data:`ITEM_COST`).

Text arguments are checked in the same pass: a NUL byte or a lone surrogate, in a literal
or in a variable, is refused with one line naming the argument, before any database sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
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
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension, ValidationCache

from registry.graphql.bounds import CAPPED, PAGED
from registry.graphql.conversion import ITEM_ARGUMENTS, MAX_ITEMS
from registry.limits import load_limits
from registry.services.graph_reads import MAX_FIRST

# The four bounds a client meets are settings (REGISTRY_MAX_GRAPHQL_*), read when the
# schema is built; the prices below are what the code costs, not policy.
_LIMITS = load_limits()
MAX_COST = _LIMITS.graphql_cost
MAX_DEPTH = _LIMITS.graphql_depth
MAX_ALIASES = _LIMITS.graphql_aliases
MAX_TOKENS = _LIMITS.graphql_tokens
CONVERSION_COST = 4_000
ITEM_COST = 15
PREVIEW_COST = 2_000
UNBOUNDED_LIST = MAX_FIRST
"""What a list field that neither tables in :mod:`bounds` names counts (none should)."""

_SATURATE = MAX_COST * 4 + 1
_PLANS = {("ChangeSet", "preview"), ("Mutation", "previewChangeSet")}
"""The fields that plan a change set."""


class TooCostly(Exception):
    """The query would do more work than one request may."""

    def __init__(self, message: str, code: str = "too_costly", field: str = "",
                 rule: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.rule = rule

    def extensions(self) -> dict[str, Any]:
        """The GraphQL error's extensions: the code, and the field and rule when named."""
        found: dict[str, Any] = {"code": self.code}
        if self.rule:
            found.update(field=self.field, rule=self.rule)
        return found


def _unwrap(type_: Any) -> tuple[Any, bool]:
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        if isinstance(type_, GraphQLList):
            is_list = True
        type_ = type_.of_type
    return type_, is_list


def _add(a: int, b: int) -> int:
    return min(a + b, _SATURATE)


def _times(a: int, b: int) -> int:
    return min(a * b, _SATURATE)


@dataclass(frozen=True)
class Summary:
    """What a selection set costs when resolved once, how deep it goes, its aliases."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0

    def plus(self, other: Summary) -> Summary:
        """Two selections side by side."""
        return Summary(_add(self.cost, other.cost), max(self.depth, other.depth),
                       _add(self.aliases, other.aliases))


_NOTHING = Summary()


def _introspection_sizes(schema: GraphQLSchema) -> tuple[int, int]:
    """(objects ``__schema`` can return, objects the largest ``__type`` can return)."""
    largest = 0
    total = 0
    for type_ in schema.type_map.values():
        size = 1
        for name in ("fields", "input_fields", "values"):
            members = getattr(type_, name, None) or {}
            size += len(members)
            size += sum(len(getattr(m, "args", None) or {}) for m in members.values())
        size += len(getattr(type_, "interfaces", None) or ())
        if isinstance(type_, GraphQLUnionType):
            size += len(type_.types)
        largest = max(largest, size)
        total += size
    total += sum(1 + len(d.args) for d in schema.directives)
    return total, largest


_SIZES: dict[int, tuple[int, int]] = {}


def introspection_sizes(schema: GraphQLSchema) -> tuple[int, int]:
    """:func:`_introspection_sizes`, computed once per schema."""
    key = id(schema)
    if key not in _SIZES:
        _SIZES[key] = _introspection_sizes(schema)
    return _SIZES[key]


def _bad_text(value: str) -> str | None:
    for char in value:
        if char == "\x00":
            return "contains a NUL byte (U+0000)"
        if "\ud800" <= char <= "\udfff":
            return "contains a lone surrogate (not Unicode text)"
    return None


def check_text(value: Any, where: str) -> None:
    """Refuse NUL bytes and lone surrogates anywhere in an argument or variable value."""
    if isinstance(value, str):
        problem = _bad_text(value)
        if problem is not None:
            raise TooCostly(f"{where}: {problem}", code="validation")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(key, where)
            check_text(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_text(item, f"{where}[{index}]")


def _check_literal(node: ValueNode, where: str) -> None:
    if isinstance(node, StringValueNode):
        check_text(node.value, where)
    elif isinstance(node, ListValueNode):
        for item in node.values:
            _check_literal(item, where)
    elif isinstance(node, ObjectValueNode):
        for field in node.fields:
            _check_literal(field.value, f"{where}.{field.name.value}")


class Analysis:
    """Cost, depth and aliases of one operation, each fragment summarised once."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.operation = operation
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.defaults = {d.variable.name.value: d.default_value
                         for d in operation.variable_definitions or ()}
        self._memo: dict[str, Summary] = {}
        self._open: set[str] = set()

    # -- values ----------------------------------------------------------------------------

    def _value(self, node: ValueNode) -> Any:
        """The value of an argument: literal, variable, or the variable's default."""
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, BooleanValueNode):
            return node.value
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            default = self.defaults.get(name)
            return self._value(default) if default is not None else None
        if isinstance(node, ListValueNode):
            return node.values
        if isinstance(node, StringValueNode):
            return node.value
        return None

    def _argument(self, node: FieldNode, name: str) -> tuple[bool, Any]:
        for arg in node.arguments or ():
            if arg.name.value == name:
                return True, self._value(arg.value)
        return False, None

    def _first(self, node: FieldNode, field: Any, maximum: int) -> int:
        """The field's ``first``: given, else its default; out of range is refused."""
        given, value = self._argument(node, "first")
        if not given or value is None:
            argument = field.args.get("first") if field is not None else None
            value = getattr(argument, "default_value", None)
        if not isinstance(value, int) or isinstance(value, bool):
            return maximum  # a wrong type is coercion's to report; cost the worst case
        if not 1 <= value <= maximum:
            # A validation error, as the resolver's own check would give (bounds.check_page).
            raise TooCostly(f"{node.name.value}(first): must be between 1 and {maximum}, "
                            f"not {value}", code="validation", field="first", rule="range")
        return value

    def _items(self, node: FieldNode, argument: str) -> int:
        """How many items a conversion field is given (more than the maximum count one more:
        the field refuses them with a typed error, which says more than "too costly")."""
        given, value = self._argument(node, argument)
        if not given:
            return 0
        if isinstance(value, list | tuple):
            return min(len(value), MAX_ITEMS + 1)
        return 1 if value else 0

    # -- selections ------------------------------------------------------------------------

    def selection(self, selection_set: SelectionSetNode, parent: Any) -> Summary:
        """The summary of ``selection_set`` resolved once on ``parent``."""
        if not selection_set.selections:
            # The GraphQL grammar forbids it; this graphql-core's parser lets it through.
            raise TooCostly("a selection set must select at least one field",
                            code="graphql_validation_failed")
        total = _NOTHING
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total = total.plus(self.field(selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                cond = selection.type_condition
                target = self.schema.get_type(cond.name.value) if cond else parent
                total = total.plus(self.selection(selection.selection_set, target or parent))
            elif isinstance(selection, FragmentSpreadNode):
                total = total.plus(self.fragment(selection.name.value))
        return total

    def fragment(self, name: str) -> Summary:
        """A fragment's summary, computed once; unknown and cyclic ones are validation's."""
        if name in self._memo:
            return self._memo[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._open:
            return _NOTHING
        self._open.add(name)
        target = self.schema.get_type(fragment.type_condition.name.value)
        summary = self.selection(fragment.selection_set, target)
        self._open.discard(name)
        self._memo[name] = summary
        return summary

    def _size(self, owner: Any, name: str, node: FieldNode, field: Any,
              is_list: bool) -> int:
        """How many times the field's selection is resolved per resolution of the field."""
        owner_name = str(getattr(owner, "name", ""))
        if field is not None and "first" in field.args:
            paged = PAGED.get(name)
            return self._first(node, field, paged.maximum if paged else MAX_FIRST)
        if not is_list:
            return 1
        if name in ("edges", "nodes") and owner_name.endswith("Connection"):
            return 1  # already counted by the connection's ``first``
        if name == "items" and owner_name == "ConversionResult":
            return 1  # the items are priced by ITEM_COST
        for type_name in (owner_name, *(i.name for i in getattr(owner, "interfaces", ()))):
            cap = CAPPED.get((type_name, name))
            if cap is not None:
                return cap
        return UNBOUNDED_LIST

    def field(self, node: FieldNode, owner: Any) -> Summary:
        """The summary of one field resolved once."""
        name = node.name.value
        aliases = 1 if node.alias is not None else 0
        for arg in node.arguments or ():
            value = arg.value
            if isinstance(value, VariableNode):
                check_text(self._value(value), f"{name}({arg.name.value})")
            else:
                _check_literal(value, f"{name}({arg.name.value})")
        if name == "__typename":
            return Summary(0, 0, aliases)
        if name in ("__schema", "__type"):
            # Bounded by the schema's size; MaxIntrospectionDepthRule bounds its depth.
            everything, largest = introspection_sizes(self.schema)
            return Summary(everything if name == "__schema" else largest, 0, aliases)
        cost = 1
        if (str(getattr(owner, "name", "")), name) in _PLANS:
            cost = PREVIEW_COST
        argument = ITEM_ARGUMENTS.get(name) if owner is self.schema.query_type else None
        if argument is not None:
            cost += CONVERSION_COST + ITEM_COST * self._items(node, argument)
        field = None
        if isinstance(owner, GraphQLObjectType | GraphQLInterfaceType):
            field = owner.fields.get(name)
        if node.selection_set is None or field is None:
            return Summary(cost, 1, aliases)
        inner, is_list = _unwrap(field.type)
        size = self._size(owner, name, node, field, is_list)
        if isinstance(inner, GraphQLUnionType):
            inner = None  # members are reached through inline fragments
        below = self.selection(node.selection_set, inner)
        return Summary(_add(cost, _times(size, below.cost)), below.depth + 1,
                       _add(aliases, below.aliases))

    def run(self) -> Summary:
        """The operation's summary; :class:`TooCostly` past any limit."""
        for definition in self.operation.variable_definitions or ():
            if definition.default_value is not None:
                _check_literal(definition.default_value, f"${definition.variable.name.value}")
        root = (self.schema.mutation_type if self.operation.operation.value == "mutation"
                else self.schema.query_type)
        summary = self.selection(self.operation.selection_set, root)
        # Root fields are at depth 0 and the deepest leaf sets the depth, as graphql's
        # usual depth limiters count (strawberry's QueryDepthLimiter among them).
        if summary.depth - 1 > MAX_DEPTH:
            raise TooCostly(f"the operation exceeds maximum operation depth of {MAX_DEPTH}",
                            code="too_deep")
        if summary.aliases > MAX_ALIASES:
            raise TooCostly(f"{summary.aliases} aliases found; allowed: {MAX_ALIASES}",
                            code="too_many_aliases")
        if summary.cost > MAX_COST:
            raise TooCostly(f"the query may resolve more than {MAX_COST} fields; ask for "
                            "smaller pages, fewer nested lists or fewer items to convert")
        return summary


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
                name is None or (definition.name and definition.name.value == name)):
            return definition
    return None


def operation_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                   variables: Mapping[str, Any]) -> int:
    """The worst-case field count of the operation; :class:`TooCostly` past a limit."""
    operation = _operation(document, operation_name)
    if operation is None:
        return 0
    return Analysis(schema, document, operation, variables).run().cost


# One token of GraphQL's grammar, or the start of a string (whose end is found apart).
_TOKEN = re.compile(r'"""|"|#[^\n\r]*|[_A-Za-z][_0-9A-Za-z]*|[-0-9][_0-9A-Za-z.+-]*|\.\.\.'
                    r"|[!$&()\[\]{}:=@|]")
# The rest of a one-line string: possessive, so an unterminated one fails in linear time.
_STRING_REST = re.compile(r'(?:[^"\\\n\r]|\\.)*+"')


def count_tokens(text: str, limit: int) -> int:
    """How many tokens ``text`` has at least, counting no further than ``limit`` + 1.

    A lower bound (each match is a distinct token; an unterminated string ends the count,
    for the parser to report), found by one regular-expression search per token: about a
    tenth of what graphql-core's parser spends on the same tokens before its own limit.
    """
    count, pos = 0, 0
    while count <= limit:
        match = _TOKEN.search(text, pos)
        if match is None:
            break
        token, pos = match.group(), match.end()
        if token.startswith("#"):
            continue  # a comment is not a token
        count += 1
        if token == '"':
            end = _STRING_REST.match(text, pos)
            if end is None:
                break
            pos = end.end()
        elif token == '"""':
            close = text.find('"""', pos)
            while close > 0 and text[close - 1] == "\\":
                close = text.find('"""', close + 3)
            if close < 0:
                break
            pos = close + 3
    return count


class TokenBudget(SchemaExtension):
    """Refuses a document of more than :data:`MAX_TOKENS` tokens before it is parsed.

    graphql-core's parser enforces the same limit, but only after parsing that many tokens
    (about 11 ms for 2,000, on the event loop); eight clients sending such documents kept
    ``/healthz`` waiting for hundreds of milliseconds. The parser's limit stays as the
    exact backstop.
    """

    def on_parse(self) -> Iterator[None]:
        """Count before parsing; over the limit, the parse never starts."""
        query = self.execution_context.query
        if query and count_tokens(query, MAX_TOKENS) > MAX_TOKENS:
            raise GraphQLError(f"Syntax Error: Document contains more than {MAX_TOKENS} "
                               "tokens. Parsing aborted.", extensions={"code": "too_many_tokens"})
        yield


class CostLimiter(SchemaExtension):
    """Refuses an operation over a limit before graphql-core validates it.

    It must come before :class:`BoundedValidationCache` in the extension list: a refusal
    here leaves nothing for validation to do.
    """

    def on_validate(self) -> Iterator[None]:
        """Check the operation with its variables; over a limit, validation is skipped."""
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            try:
                check_text(context.variables or {}, "variables")
                operation_cost(context.schema._schema, document, context.operation_name,
                               context.variables or {})
            except TooCostly as exc:
                context.pre_execution_errors = [
                    GraphQLError(str(exc), extensions=exc.extensions())]
        yield


class BoundedValidationCache(ValidationCache):
    """strawberry's validation cache that leaves a refused document unvalidated."""

    def on_validate(self) -> Iterator[None]:
        """Validate (through the cache) only what :class:`CostLimiter` let through."""
        if self.execution_context.pre_execution_errors is not None:
            yield
            return
        yield from super().on_validate()
