"""Runtime settings, read from the environment so that every interface agrees."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from registry.errors import RegistryError

DATABASE_VARIABLE = "REGISTRY_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///registry.db"
EXPECTED_DATABASE = ("a SQLite file path, or a URL such as sqlite:///registry.db, "
                     "postgresql://user@host/name or mysql+pymysql://user@host/name")
TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class Settings:
    """Settings of one process; build with :func:`load_settings`."""

    database_url: str
    anonymous_read: bool


def database_url_of(value: str, source: str) -> str:
    """The database URL that ``value`` (from ``source``) names; a plain path is a SQLite file.

    ``demo --db`` takes a path, so a path is the natural guess for the variable too. A URL
    must name a backend whose driver is installed: anything else is a :class:`RegistryError`
    here rather than a traceback at the first query.
    """
    text = value.strip()
    if not text:
        raise RegistryError(f"{source} is empty; expected {EXPECTED_DATABASE}")
    if "://" not in text:
        return f"sqlite:///{text}"
    # Imported here: the command line reads these settings' names for its help, which must
    # not import SQLAlchemy; a URL to check means a database is about to be opened anyway.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from registry.db import normalise_url

    try:
        make_url(normalise_url(text)).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError):
        raise RegistryError(f"{source}: '{value}' is not a database URL the registry can use; "
                            f"expected {EXPECTED_DATABASE}") from None
    return text


def load_settings() -> Settings:
    """Read the settings from ``REGISTRY_*`` environment variables.

    Raises :class:`RegistryError` when ``REGISTRY_DATABASE_URL`` names no usable database.
    """
    return Settings(
        database_url=database_url_of(os.environ.get(DATABASE_VARIABLE, DEFAULT_DATABASE_URL),
                                     DATABASE_VARIABLE),
        anonymous_read=os.environ.get("REGISTRY_ANONYMOUS_READ", "1").lower()
        not in ("0", "false", "no", "off"),
    )


def today() -> date:
    """Today in Viet Nam: the default ``asOf`` of every query (DESIGN §5)."""
    return datetime.now(TIMEZONE).date()
