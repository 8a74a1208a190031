"""ASGI app factory: GraphQL, the sync feed and the web UI on one Starlette app."""

from __future__ import annotations

from starlette.applications import Starlette

from registry.config import Settings, load_settings
from registry.db import make_engine, session_factory
from registry.graphql.routes import routes as graphql_routes
from registry.sync.routes import routes as sync_routes
from registry.web.routes import routes as web_routes


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app on the configured database."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    app = Starlette(routes=[*graphql_routes(sessions), *sync_routes(sessions),
                            *web_routes(sessions)])
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.settings = settings
    return app
