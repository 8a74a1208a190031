"""Routes this interface mounts in the ASGI app."""

from __future__ import annotations

from starlette.routing import BaseRoute

from registry.db import session_factory


def routes(sessions: object) -> list[BaseRoute]:
    """Starlette routes of this interface; ``sessions`` is the app's session factory."""
    _ = session_factory
    return []
