"""Request bodies bounded while they stream in, per path, before anything parses them.

A ``Content-Length`` over the limit is refused at once; a body without one (chunked) or one
that lies is counted as it arrives, and the first byte past the limit ends the request with
413. The application never sees more than the limit: its ``receive`` raises
:class:`BodyTooLarge` from then on, and whatever the application answers or raises in
response is replaced by the refusal, so no handler can turn it into a 500 or a partial write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.limits import Limits, env_name


class BodyTooLarge(Exception):
    """Raised from ``receive`` once a body passes its limit."""


@dataclass(frozen=True)
class BodyRule:
    """Bodies under ``prefix`` may hold ``limit`` bytes; ``answer`` is the ASGI app that
    tells the client when one does not (it is called with an empty body)."""

    prefix: str
    limit: int
    setting: str
    answer: ASGIApp


def _too_large(limit: int, setting: str) -> str:
    return f"body: the request body is larger than {limit} bytes ({setting})"


def _answer(body: bytes) -> ASGIApp:
    """An ASGI app answering 413 with the JSON ``body`` and closing the connection."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store"),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    return answer


def json_refusal(limit: int, setting: str) -> ASGIApp:
    """A 413 as a GraphQL-style JSON error, for GraphQL clients."""
    return _answer(json.dumps({"data": None, "errors": [{
        "message": _too_large(limit, setting),
        "extensions": {"code": "too_large", "field": "body", "rule": "max_bytes",
                       "limit": limit}}]}).encode())


def sync_refusal(limit: int, setting: str) -> ASGIApp:
    """A 413 in the sync feed's error form (``{error, message, field, rule}``, as its 400s)."""
    return _answer(json.dumps({"error": "too_large", "message": _too_large(limit, setting),
                               "field": "body", "rule": "max_bytes",
                               "limit": limit}).encode())


def sync_rule(limits: Limits) -> BodyRule:
    """The sync protocol's JSON bodies (ledger reports), at the GraphQL body limit."""
    setting = env_name("graphql_body_bytes")
    return BodyRule("/sync/", limits.graphql_body_bytes, setting,
                    sync_refusal(limits.graphql_body_bytes, setting))


def api_rules(limits: Limits) -> list[BodyRule]:
    """The JSON endpoints: GraphQL and the sync protocol, each answering in its own form."""
    setting = env_name("graphql_body_bytes")
    return [BodyRule("/graphql", limits.graphql_body_bytes, setting,
                     json_refusal(limits.graphql_body_bytes, setting)),
            sync_rule(limits)]


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class BodyLimit:
    """Pure ASGI middleware enforcing the first :class:`BodyRule` whose prefix matches."""

    def __init__(self, app: ASGIApp, rules: Sequence[BodyRule]) -> None:
        self.app = app
        self.rules = list(rules)

    def _rule(self, path: str) -> BodyRule | None:
        return next((rule for rule in self.rules if path.startswith(rule.prefix)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._rule(scope["path"]) if scope["type"] == "http" else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > rule.limit:
            await rule.answer(scope, _no_body, send)
            return
        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge(rule.setting)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > rule.limit:
                    exceeded = True
                    raise BodyTooLarge(rule.setting)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the application's answer to a cut-off body is replaced by ours
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await rule.answer(scope, _no_body, send)
