"""HTTP caching headers for GraphQL answers, so that a shared cache (nginx, a CDN) can keep
them (docs/graphql.md, "HTTP caching"; deploy/nginx/registry.conf).

A GET of a query that reads only published data (the root fields of
:data:`~registry.graphql.caching.RELEASE_KEYED`), answered without errors, may be kept:

- every root field pinned to a release (``atRelease``) and to a date (``asOf``, where the
  field takes one), literally or by a non-null variable, and no change set read anywhere
  in it: the answer never changes, so ``public, max-age=31536000, immutable`` with a strong
  ETag (the hash of the body); without ``asOf`` the answer would move at midnight (its
  default is today), so it is not immutable;
- otherwise ``public, max-age=N`` (``REGISTRY_GRAPHQL_MAX_AGE``, default 5 seconds), an
  ETag and ``X-Registry-Release``: the latest release, read before the query ran.

Public only when anonymous reads are allowed and the request carries no ``Authorization``
(a cache must not hand one client's answer to a client that may not read); otherwise
``private, no-store``. Errors, change sets, ``viewer``, ``node`` and everything else:
``no-store``. A matching ``If-None-Match`` is answered 304. POST answers of such queries
carry ``X-Registry-Release`` too (:class:`ReleaseHeader`); nothing caches a POST.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    parse,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.errors import RegistryError
from registry.graphql.caching import RELEASE_KEYED
from registry.graphql.limits import MAX_TOKENS, count_tokens

IMMUTABLE = "public, max-age=31536000, immutable"
NO_STORE = "no-store"
PRIVATE = "private, no-store"
MAX_AGE_VARIABLE = "REGISTRY_GRAPHQL_MAX_AGE"
DEFAULT_MAX_AGE = 5
RELEASE_HEADER = "X-Registry-Release"
ERRORS = "registry.graphql.errors"
"""Scope key: whether strawberry's result had errors (set by the view's process_result)."""
DOCUMENT = "registry.graphql.document"
"""Scope key: (query, operationName) of a POSTed request (set by the view as it decodes it)."""
CONTEXT = "registry.graphql.context"
_MUTABLE_FIELDS = frozenset({"changeSet"})
"""Fields whose answer changes without a release (a change set's events and comments)."""


def max_age() -> int:
    """Seconds a shared cache may keep an answer of the latest release."""
    raw = os.environ.get(MAX_AGE_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_AGE
    if not raw.isdigit():
        raise RegistryError(f"{MAX_AGE_VARIABLE}: '{raw}' is not a whole number of seconds")
    return int(raw)


@dataclass(frozen=True)
class Shape:
    """What a document's chosen operation reads, as far as caching cares."""

    release_keyed: bool
    """A query whose every root field reads published data only."""
    pins: tuple[tuple[ValueNode | None, ValueNode | None], ...] | None
    """Per root field, its ``atRelease`` and ``asOf`` arguments (``None``: not given, or
    the field does not take it); ``None`` when some root field cannot be pinned at all."""
    defaults: tuple[tuple[str, ValueNode], ...]
    """The operation's variable defaults."""
    takes_as_of: tuple[bool, ...]
    """Per root field, whether it takes ``asOf``."""


def _root_fields(selection_set: SelectionSetNode,
                 fragments: Mapping[str, FragmentDefinitionNode],
                 depth: int = 0) -> Iterator[FieldNode | None]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif depth > 8:
            yield None
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, depth + 1)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None:
                yield None
            else:
                yield from _root_fields(fragment.selection_set, fragments, depth + 1)


def _names(document: DocumentNode) -> Iterator[str]:
    """Every field name in the document (a stack, not recursion: depth is the client's)."""
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode):
            yield node.name.value
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)


def _argument(node: FieldNode, name: str) -> ValueNode | None:
    return next((a.value for a in node.arguments or () if a.name.value == name), None)


_NOT_CACHEABLE = Shape(False, None, (), ())


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        return next((o for o in operations if o.name and o.name.value == name), None)
    return operations[0] if len(operations) == 1 else None


@lru_cache(maxsize=512)
def shape(query: str, operation_name: str | None) -> Shape:
    """The :class:`Shape` of a document (bounded cache: documents repeat)."""
    from registry.graphql.schema import schema  # the schema imports this package's modules

    if count_tokens(query, MAX_TOKENS) > MAX_TOKENS:
        return _NOT_CACHEABLE
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return _NOT_CACHEABLE
    operation = _operation(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY:
        return _NOT_CACHEABLE
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    roots = list(_root_fields(operation.selection_set, fragments))
    if not roots or any(r is None or r.name.value not in RELEASE_KEYED for r in roots):
        return _NOT_CACHEABLE
    query_type = _query_type(schema._schema)
    pins: list[tuple[ValueNode | None, ValueNode | None]] = []
    takes: list[bool] = []
    pinnable = not any(name in _MUTABLE_FIELDS for name in _names(document))
    for root in roots:
        assert root is not None
        if root.name.value == "__typename":
            continue
        field = query_type.get(root.name.value)
        if field is None or "atRelease" not in field.args:
            pinnable = False
            continue
        takes.append("asOf" in field.args)
        pins.append((_argument(root, "atRelease"), _argument(root, "asOf")))
    defaults = tuple((d.variable.name.value, d.default_value)
                     for d in operation.variable_definitions or () if d.default_value)
    return Shape(True, tuple(pins) if pinnable else None, defaults, tuple(takes))


def _query_type(schema: GraphQLSchema) -> Mapping[str, Any]:
    assert schema.query_type is not None
    fields: Mapping[str, Any] = schema.query_type.fields
    return fields


def _given(node: ValueNode | None, variables: Mapping[str, Any],
           defaults: Mapping[str, ValueNode]) -> bool:
    """Whether an argument has a non-null value: a literal, or a variable set (or
    defaulted) to one."""
    if isinstance(node, IntValueNode | StringValueNode):
        return True
    if isinstance(node, VariableNode):
        name = node.name.value
        if name in variables:
            return variables[name] is not None
        return isinstance(defaults.get(name), IntValueNode | StringValueNode)
    return False


def immutable(found: Shape, variables: Mapping[str, Any]) -> bool:
    """Whether every root field is pinned to a release and a date."""
    if found.pins is None or not found.pins:
        return False
    defaults = dict(found.defaults)
    return all(_given(at, variables, defaults)
               and (not takes or _given(as_of, variables, defaults))
               for (at, as_of), takes in zip(found.pins, found.takes_as_of, strict=True))


def etag_of(body: bytes) -> str:
    """A strong validator of a body: the start of its SHA-256."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(presented: str | None, etag: str) -> bool:
    if not presented:
        return False
    tags = [t.strip().removeprefix("W/") for t in presented.split(",")]
    return "*" in tags or etag in tags


@dataclass(frozen=True)
class Request:
    """What the rules read of a GET: who asks, and what."""

    query: str | None
    operation_name: str | None
    variables: Mapping[str, Any]
    authorized: bool
    anonymous_read: bool
    if_none_match: str | None


@dataclass(frozen=True)
class Decision:
    """The caching headers of one answer, and whether it is answered 304."""

    headers: dict[str, str]
    not_modified: bool = False


def decide(request: Request, status: int, errors: bool | None, body: bytes,
           latest: int | None) -> Decision:
    """The headers of a GET answer (see the module's docstring for the rules).

    ``errors`` is whether the GraphQL result had errors (``None``: no result, e.g. the IDE's
    page or a refusal); ``latest`` the latest release read before the query ran.
    """
    headers = {"Vary": "Accept-Encoding"}
    found = (shape(request.query, request.operation_name)
             if request.query and status == 200 and errors is False else None)
    if found is None or not found.release_keyed:
        return Decision({**headers, "Cache-Control": NO_STORE})
    if request.authorized or not request.anonymous_read:
        return Decision({**headers, "Cache-Control": PRIVATE})
    etag = etag_of(body)
    headers["ETag"] = etag
    if immutable(found, request.variables):
        headers["Cache-Control"] = IMMUTABLE
    else:
        headers["Cache-Control"] = f"public, max-age={max_age()}"
        if latest is not None:
            headers[RELEASE_HEADER] = str(latest)
    return Decision(headers, _matches(request.if_none_match, etag))


def release_keyed(query: str | None, operation_name: str | None) -> bool:
    """Whether a document reads published data only (so its answer names a release)."""
    return bool(query) and shape(query or "", operation_name).release_keyed


def _with_headers(start: Message, headers: Mapping[str, str],
                  drop: tuple[bytes, ...] = ()) -> Message:
    names = {k.lower().encode("latin-1") for k in headers} | set(drop)
    kept = [(k, v) for k, v in start.get("headers", []) if k.lower() not in names]
    return {**start, "headers": [*kept, *((k.lower().encode("latin-1"), v.encode("latin-1"))
                                          for k, v in headers.items())]}


def caching_send(send: Send, request: Request,
                 latest: Callable[[], int | None],
                 errors: Callable[[], bool | None]) -> Send:
    """A ``send`` that holds a GET's answer until it is whole, then sends it with its
    caching headers, or a 304 when the client's validator matches."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        decision = decide(request, int(start["status"]), errors(), body, latest())
        if decision.not_modified:
            await send(_with_headers({**start, "status": 304}, decision.headers,
                                     (b"content-length", b"content-type")))
            await send({"type": "http.response.body", "body": b""})
            return
        await send(_with_headers(start, decision.headers))
        await send({"type": "http.response.body", "body": body})

    return wrapped


class ReleaseHeader:
    """ASGI wrapper of the GraphQL view: a POSTed query of published data, answered without
    errors, names the latest release it was answered against (``X-Registry-Release``),
    when the request read it (a release-keyed answer always does while the response
    cache is on). GET answers get their headers from :func:`caching_send`."""

    def __init__(self, view: ASGIApp) -> None:
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve through the view, adding the header on the way out."""
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.view(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                release = _release_of(scope)
                if release is not None:
                    message = _with_headers(message, {RELEASE_HEADER: str(release)})
            await send(message)

        await self.view(scope, receive, wrapped)


def _release_of(scope: Scope) -> int | None:
    context = scope.get(CONTEXT)
    document = scope.get(DOCUMENT)
    if (context is None or scope.get(ERRORS) is True or not isinstance(document, tuple)
            or not getattr(context, "latest_known", False)):
        return None
    query, operation_name = document
    if not release_keyed(query, operation_name):
        return None
    return int(context.latest())
