"""Schema upgrades through Alembic, shared by the CLI, the demo and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from registry.db import session_factory, transaction
from registry.services.actors import SYSTEM
from registry.services.code_lists import ensure_builtin_lists

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs on ``engine``'s database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url",
                           engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (``None`` for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> int | None:
    """Migrate to the newest schema and define missing built-in lists; return that release."""
    config = alembic_config(engine)
    # Not engine.begin(): on SQLite the migration environment must switch foreign keys off
    # before its transaction starts; it begins and commits the transaction itself.
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with transaction(session_factory(engine)) as session:
        return ensure_builtin_lists(session, SYSTEM)
