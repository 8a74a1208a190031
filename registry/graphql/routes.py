"""The ``/graphql`` endpoint: strawberry's ASGI view with our context, auth and session."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from registry.config import Settings, load_settings
from registry.errors import PermissionDenied
from registry.graphql.context import Context
from registry.graphql.schema import schema as registry_schema
from registry.services.tokens import authenticate


_CONTEXT = "registry.graphql.context"


def _unauthorized(message: str) -> Response:
    return JSONResponse({"data": None, "errors": [
        {"message": message, "extensions": {"code": "unauthenticated"}}]},
        status_code=401, headers={"WWW-Authenticate": 'Bearer realm="registry"'})


class RegistryGraphQL(GraphQL[Context, None]):
    """One session per request, opened on first use and rolled back and closed at the end."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        # Subscriptions are not offered, and GET may only read (strawberry refuses
        # mutations over GET), so a link cannot make a browser write.
        super().__init__(registry_schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.sessions = sessions
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await PlainTextResponse("GraphQL is served over HTTP only", 404)(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        context = Context(sessions=self.sessions, settings=self.settings)
        try:
            refused = self._authenticate(request, context)
            if refused is not None:
                await refused(scope, receive, send)
                return
            scope[_CONTEXT] = context
            await super().__call__(scope, receive, send)
        finally:
            context.close()

    def _authenticate(self, request: Request, context: Context) -> Response | None:
        header = request.headers.get("authorization")
        if header is None:
            wants_ide = request.method == "GET" and "text/html" in request.headers.get(
                "accept", "")
            if not self.settings.anonymous_read and not wants_ide:
                return _unauthorized("this registry needs an API token for reads too: send "
                                     "'Authorization: Bearer …'")
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return _unauthorized("use 'Authorization: Bearer <token>'")
        try:
            context.actor = authenticate(context.session, secret)
        except PermissionDenied as exc:
            return _unauthorized(exc.message)
        return None

    async def get_context(self, request: Any, response: Any) -> Context:
        """The context :meth:`__call__` built and authenticated for this request."""
        context: Context = request.scope[_CONTEXT]
        return context


def routes(sessions: sessionmaker[Session], settings: Settings | None = None) -> list[BaseRoute]:
    """Starlette routes of this interface; ``sessions`` is the app's session factory."""
    view = RegistryGraphQL(sessions, settings or load_settings())
    return [Route("/graphql", view, methods=["GET", "POST"])]
