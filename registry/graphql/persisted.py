"""Persisted queries in the Apollo APQ wire format, so that reads can be plain, cacheable GETs.

A client names a document by the SHA-256 of its text::

    GET /graphql?extensions={"persistedQuery":{"version":1,"sha256Hash":"<hex>"}}&variables=…

An unknown hash is answered with APQ's ``PersistedQueryNotFound`` error (HTTP 200, code
``PERSISTED_QUERY_NOT_FOUND``), and the client sends the request again with the query text
and the hash (POST or GET): the text is registered when its SHA-256 is the hash, when it is
no larger than ``REGISTRY_MAX_GRAPHQL_PERSISTED_BYTES``, when it parses and validates
against the schema within the depth, alias and token limits, and while the store holds
fewer than ``REGISTRY_MAX_GRAPHQL_PERSISTED`` documents. Documents live in the database
(``persisted_queries``), so every API node knows the hashes any node registered; each
process also keeps the documents it has seen in a small LRU, since a hash's text never
changes.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import MaxIntrospectionDepthRule
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import JSONResponse, Response

from registry.db import transaction
from registry.errors import RegistryError
from registry.graphql.limits import MAX_TOKENS, Analysis, TooCostly, count_tokens
from registry.limits import Limits, env_name
from registry.services import persisted_queries
from registry.services.persisted_queries import StoreFull, digest

NOT_FOUND = "PersistedQueryNotFound"
"""The message APQ clients match (older ones on the message, newer on the code)."""
HASH_FIELD = "extensions.persistedQuery.sha256Hash"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RULES = [*specified_rules, MaxIntrospectionDepthRule]
_LOCAL_SIZE = 1024


class PersistedError(HTTPException):
    """A persisted-query request refused, with the GraphQL error it is answered with.

    An :class:`HTTPException`, so that strawberry's own path (a POSTed body parsed by the
    view's ``parse_json``) raises it as it raises its other refusals.
    """

    def __init__(self, status: int, message: str, extensions: dict[str, Any]) -> None:
        super().__init__(status, message)
        self.extensions = extensions


def not_found() -> PersistedError:
    """APQ's answer to a hash the registry does not know: the client then sends the text."""
    return PersistedError(200, NOT_FOUND, {"code": "PERSISTED_QUERY_NOT_FOUND"})


def _refused(message: str, field: str, rule: str, **more: Any) -> PersistedError:
    return PersistedError(400, f"{field}: {message}",
                          {"code": more.pop("code", "validation"), "field": field,
                           "rule": rule, **more})


def error_response(exc: HTTPException) -> Response:
    """A refusal in GraphQL's JSON error shape, never stored by a cache."""
    extensions = getattr(exc, "extensions", None) or {"code": "bad_request"}
    return JSONResponse({"data": None, "errors": [{"message": exc.reason,
                                                   "extensions": extensions}]},
                        status_code=exc.status_code, headers={"Cache-Control": "no-store"})


def requested_hash(data: Mapping[str, Any]) -> str | None:
    """The hash a request names in ``extensions.persistedQuery``, or ``None`` when it names
    none; a malformed one is a :class:`PersistedError` naming the field."""
    extensions = data.get("extensions")
    if not isinstance(extensions, Mapping) or "persistedQuery" not in extensions:
        return None
    found = extensions["persistedQuery"]
    if not isinstance(found, Mapping):
        raise _refused("must be an object with 'version' and 'sha256Hash'",
                       "extensions.persistedQuery", "type")
    if found.get("version") != 1:
        raise PersistedError(400, "extensions.persistedQuery.version: only version 1 is "
                             "supported", {"code": "PERSISTED_QUERY_NOT_SUPPORTED",
                                           "field": "extensions.persistedQuery.version",
                                           "rule": "version"})
    value = found.get("sha256Hash")
    if not isinstance(value, str) or not _HEX64.fullmatch(value.lower()):
        raise _refused("must be the SHA-256 of the query, 64 hexadecimal digits", HASH_FIELD,
                       "pattern")
    return value.lower()


def check_document(schema: GraphQLSchema, query: str, limits: Limits) -> None:
    """Refuse, naming ``query``, a document that may not be persisted: too large, more
    tokens than allowed, not GraphQL, invalid against the schema, too deep or too many
    aliases. (The cost depends on the variables; it is checked when the query runs.)"""
    size = len(query.encode("utf-8"))
    setting = env_name("graphql_persisted_bytes")
    if size > limits.graphql_persisted_bytes:
        raise _refused(f"is {size} bytes, more than the {limits.graphql_persisted_bytes} a "
                       f"persisted query may hold ({setting})", "query", "max_bytes",
                       code="too_large", limit=limits.graphql_persisted_bytes)
    if count_tokens(query, MAX_TOKENS) > MAX_TOKENS:
        raise _refused(f"has more than {MAX_TOKENS} tokens", "query", "max_tokens",
                       code="too_many_tokens")
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        raise _refused(f"is not a GraphQL document ({exc.message})", "query",
                       "graphql") from None
    errors = validate(schema, document, _RULES)
    if errors:
        raise _refused(f"does not validate against the schema ({errors[0].message})",
                       "query", "graphql")
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        try:
            Analysis(schema, document, operation, {}).run()
        except TooCostly as exc:
            if exc.extensions().get("code") in ("too_deep", "too_many_aliases"):
                raise _refused(str(exc), "query", str(exc.extensions()["code"]),
                               code=exc.extensions()["code"]) from None


class PersistedQueries:
    """Resolves and registers the persisted queries of one app's requests."""

    def __init__(self, sessions: sessionmaker[Session], schema: GraphQLSchema,
                 limits: Limits) -> None:
        self.sessions = sessions
        self.schema = schema
        self.limits = limits
        self._known: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def _remember(self, key: str, query: str) -> None:
        with self._lock:
            self._known[key] = query
            self._known.move_to_end(key)
            while len(self._known) > _LOCAL_SIZE:
                self._known.popitem(last=False)

    def known(self, key: str) -> str | None:
        """The text of ``key`` if this process has seen it."""
        with self._lock:
            return self._known.get(key)

    def lookup(self, key: str) -> str | None:
        """The text registered under ``key``, from this process or the database."""
        found = self.known(key)
        if found is None:
            with self.sessions() as session:
                found = persisted_queries.lookup(session, key)
            if found is not None:
                self._remember(key, found)
        return found

    def register(self, query: str) -> tuple[str, bool]:
        """Check and store ``query``; return (its hash, whether it was new)."""
        key = digest(query)
        if self.known(key) is not None:
            return key, False
        check_document(self.schema, query, self.limits)
        try:
            with transaction(self.sessions) as session:
                key, new = persisted_queries.register(session, query,
                                                      self.limits.graphql_persisted)
        except StoreFull as exc:
            raise _store_full(exc) from None
        self._remember(key, query)
        return key, new

    def resolve(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (a decoded request) with its persisted query applied: the text filled in
        from the store for a hash alone, or registered when it comes with its hash.
        Requests that name no persisted query are returned as they are."""
        key = requested_hash(data)
        if key is None:
            return data
        query = data.get("query")
        if isinstance(query, str) and query:
            actual = digest(query)
            if actual != key:
                raise _refused(f"is not the SHA-256 of the query sent with it (that is "
                               f"{actual}); nothing was registered", HASH_FIELD,
                               "hash_mismatch")
            self.register(query)
            return data
        found = self.lookup(key)
        if found is None:
            raise not_found()
        return {**data, "query": found}


def _store_full(exc: RegistryError) -> PersistedError:
    return PersistedError(exc.http_status, exc.message,
                          {"code": exc.code, "field": "extensions.persistedQuery",
                           "rule": "max_items"})
