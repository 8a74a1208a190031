"""An app serving only the sync feed, for a feed-only process behind a cache or CDN.

``registry serve`` mounts the same routes in the full app; this one needs neither the
GraphQL nor the web dependencies at run time:
``uvicorn --factory registry.sync.app:create_sync_app``.
"""

from __future__ import annotations

from starlette.applications import Starlette

from registry.body_limit import BodyLimit, sync_rule
from registry.config import Settings, load_settings
from registry.db import make_engine, session_factory
from registry.limits import load_limits
from registry.sync.routes import routes


def create_sync_app(settings: Settings | None = None) -> Starlette:
    """The sync routes alone, on the configured database."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    app = Starlette(routes=routes(sessions))
    # The same bound on bodies as in the full app: a ledger report is parsed whole.
    app.add_middleware(BodyLimit, rules=[sync_rule(load_limits())])
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.settings = settings
    return app
