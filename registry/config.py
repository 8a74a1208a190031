"""Runtime settings, read from the environment so that every interface agrees."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

DEFAULT_DATABASE_URL = "sqlite:///registry.db"
TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class Settings:
    """Settings of one process; build with :func:`load_settings`."""

    database_url: str
    anonymous_read: bool


def load_settings() -> Settings:
    """Read the settings from ``REGISTRY_*`` environment variables."""
    return Settings(
        database_url=os.environ.get("REGISTRY_DATABASE_URL", DEFAULT_DATABASE_URL),
        anonymous_read=os.environ.get("REGISTRY_ANONYMOUS_READ", "1").lower()
        not in ("0", "false", "no", "off"),
    )


def today() -> date:
    """Today in Viet Nam: the default ``asOf`` of every query (DESIGN §5)."""
    return datetime.now(TIMEZONE).date()
