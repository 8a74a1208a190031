"""Spreadsheet formula injection: cells that a spreadsheet would run are escaped on export,
unescaped on import, and reported when a foreign file holds them.

A spreadsheet treats a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (``=HYPERLINK(…)``, ``=cmd|' /C calc'!A0``). As OWASP recommends for
CSV injection, such a text is written with a single quote in front, which makes the
spreadsheet show it as text. The escape is exact, so a file we wrote reads back to the very
text we had:

* a text is escaped when, after any single quotes it begins with, comes one of those
  characters: ``=1`` is written ``'=1``, and ``'=1`` (a quote that was really there) is
  written ``''=1``;
* reading drops one leading quote exactly when the text is escaped by that rule, so ``'=1``
  reads as ``=1`` and ``''=1`` as ``'=1``, while ``'s-Hertogenbosch`` stays as it is.

A number (``-5``, ``+84``, ``-1.5e3``) is not a formula that can do harm and is never escaped,
so negative numbers stay numbers; a name that begins with ``-`` is escaped and reads back
whole.
"""

from __future__ import annotations

import re
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_FIRST = frozenset("'=+-@\t\r")


def runs_as_formula(text: str) -> bool:
    """Whether ``text``, once any leading quotes are set aside, would run as a formula."""
    if not text or text[0] not in _FIRST:
        return False  # the common case, decided on the first character
    rest = text.lstrip("'")
    return rest.startswith(TRIGGERS) and _NUMBER.fullmatch(rest) is None


def escape(value: Any) -> Any:
    """``value`` as a cell to write: a text that would run gets a quote in front."""
    if isinstance(value, str) and runs_as_formula(value):
        return "'" + value
    return value


def unescape(text: str) -> str:
    """The text a cell written by :func:`escape` held."""
    if text.startswith("'") and runs_as_formula(text):
        return text[1:]
    return text


def foreign_formula(text: str) -> bool:
    """Whether a cell read from a file is a formula that no escape of ours protected."""
    return not text.startswith("'") and runs_as_formula(text)
