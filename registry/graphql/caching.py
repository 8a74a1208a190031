"""Release-keyed response cache for read-only queries of published data.

A query whose root fields all read published data (entries, resolve, code lists,
releases) answers the same for everyone until the next release. Its encoded HTTP answer
is cached under the latest release (registry.services.cache), keyed by the document, the
variables, the operation name and today's date (the default ``asOf``). A hit costs one
statement, the read of the latest release, and skips GraphQL execution entirely.

Change sets, ``viewer`` and ``node`` (which may be a change set) are never cached: they
change without a release. Neither are answers with errors, nor GET requests.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from datetime import date
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from registry.graphql.context import Context
from registry.services.cache import ReleaseCache

RELEASE_KEYED = frozenset({
    "entry", "entries", "administrativeUnit", "administrativeUnits", "agency", "agencies",
    "procedure", "procedures", "resolve", "codeList", "codeLists", "release", "releases",
    "__typename",
})
MAX_BODY = 64 * 1024


def cache_from_env() -> ReleaseCache:
    """The process's cache; ``REGISTRY_GRAPHQL_CACHE`` sets its size (0 turns it off)."""
    return ReleaseCache(int(os.environ.get("REGISTRY_GRAPHQL_CACHE", "5000")))


class CacheableDocuments:
    """Which query texts were seen to read only release-keyed data (bounded LRU).

    Only documents with a single operation are cacheable, so the text alone decides.
    """

    def __init__(self, maxsize: int = 512) -> None:
        self.maxsize = maxsize
        self._known: OrderedDict[str, bool] = OrderedDict()

    def get(self, query: str) -> bool:
        """Whether the document is known to be cacheable."""
        return self._known.get(query, False)

    def add(self, query: str) -> None:
        """Remember a cacheable document."""
        self._known[query] = True
        self._known.move_to_end(query)
        while len(self._known) > self.maxsize:
            self._known.popitem(last=False)


DOCUMENTS = CacheableDocuments()


def request_key(data: Any, today: date) -> tuple[Hashable, str] | None:
    """(cache key, query) of a POSTed request's decoded JSON, or ``None``."""
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return None
    variables = data.get("variables") or {}
    operation = data.get("operationName")
    if not isinstance(variables, dict) or not (operation is None or isinstance(operation, str)):
        return None
    query: str = data["query"]
    key = (query, json.dumps(variables, sort_keys=True, ensure_ascii=False), operation, today)
    return key, query


def _roots(selection_set: SelectionSetNode,
           fragments: dict[str, FragmentDefinitionNode], depth: int = 0) -> Iterator[str]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif depth > 8:
            yield "?"  # fragments nested this deep at the root: do not bother
        elif isinstance(selection, InlineFragmentNode):
            yield from _roots(selection.selection_set, fragments, depth + 1)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None:
                yield "?"
            else:
                yield from _roots(fragment.selection_set, fragments, depth + 1)


class ResponseCache(SchemaExtension):
    """Marks a request whose answer may be cached: a release-keyed query without errors.

    It reads the latest release *before* executing, so an answer is filed under a release
    no newer than the data it was computed from.
    """

    def on_execute(self) -> Iterator[None]:
        """Note the latest release before executing; after, mark a clean answer cacheable."""
        ctx = self.execution_context
        context = ctx.context
        cacheable = (isinstance(context, Context) and context.cache is not None
                     and context.cache.maxsize > 0 and ctx.result is None
                     and ctx.query is not None and self._cacheable())
        if cacheable and isinstance(context, Context):
            context.cache_release = context.latest()
        yield
        if cacheable and isinstance(context, Context) and ctx.query is not None:
            result = ctx.result
            if result is not None and not result.errors:
                DOCUMENTS.add(ctx.query)
                context.cache_ok = True

    def _cacheable(self) -> bool:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is None or ctx.operation_type != OperationType.QUERY:
            return False
        fragments = {d.name.value: d for d in document.definitions
                     if isinstance(d, FragmentDefinitionNode)}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1:
            return False
        return all(name in RELEASE_KEYED
                   for name in _roots(operations[0].selection_set, fragments))
