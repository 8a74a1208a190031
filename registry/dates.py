"""Dates as the registry writes them: ``YYYY-MM-DD`` and nothing else.

Python's ``date.fromisoformat`` also takes ``20250701`` and ``2025-W27-2``; a registry
that silently accepts those teaches people formats that other systems refuse. Every
interface parses dates here.
"""

from __future__ import annotations

import re
from datetime import date

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_day(text: str) -> date:
    """The date ``text`` writes as ``YYYY-MM-DD`` (surrounding spaces allowed).

    Raises :class:`ValueError` for any other form or an impossible date.
    """
    value = text.strip()
    if not _DAY.fullmatch(value):
        raise ValueError(f"'{text}' is not a date (YYYY-MM-DD)")
    return date.fromisoformat(value)
