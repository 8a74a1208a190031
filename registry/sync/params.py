"""The bounds of every parameter of the sync endpoints, stated once.

The routes parse with these and the OpenAPI document describes them with the same
objects, so the document and the code cannot disagree: a value outside a bound is a 400
naming the parameter and the rule (``type``, ``minimum``, ``maximum``, ``pattern``), never
a clamp that hides the mistake and never a 500 from a number the database cannot hold.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from registry.errors import ValidationError
from registry.sync.protocol import DEFAULT_SNAPSHOT_LIMIT, MAX_SNAPSHOT_LIMIT, MAX_WAIT

# Seqs, releases and page numbers are INTEGER columns (or derived from them): a larger one
# cannot exist, and PostgreSQL would refuse to compare with it.
MAX_INT = 2**31 - 1
# Longer than any number within the bounds: refused before Python converts it, so a
# 100,000-digit "number" costs nothing.
_MAX_DIGITS = 24
_INTEGER = re.compile(r"^-?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
EPOCH_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_EPOCH = re.compile(EPOCH_PATTERN)


@dataclass(frozen=True)
class Bounded:
    """A numeric parameter with its type and inclusive bounds."""

    name: str
    integer: bool
    minimum: float
    maximum: float
    default: float | None = None

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the parameter, for the OpenAPI document."""
        found: dict[str, Any] = {"type": "integer" if self.integer else "number",
                                 "minimum": _plain(self.minimum),
                                 "maximum": _plain(self.maximum)}
        if self.default is not None:
            found["default"] = _plain(self.default)
        return found

    def parse(self, raw: str) -> float:
        """The value of ``raw``, or :class:`ValidationError` naming this parameter."""
        text = raw.strip()
        kind = "a whole number" if self.integer else "a number"
        pattern = _INTEGER if self.integer else _NUMBER
        if len(text) > _MAX_DIGITS and pattern.fullmatch(text):
            raise ValidationError(self.name, "maximum", f"must be ≤ {_plain(self.maximum)}")
        if not pattern.fullmatch(text):
            raise ValidationError(self.name, "type", f"must be {kind}")
        value = int(text) if self.integer else float(text)
        if not math.isfinite(value):
            raise ValidationError(self.name, "maximum", f"must be ≤ {_plain(self.maximum)}")
        if value < self.minimum:
            raise ValidationError(self.name, "minimum", f"must be ≥ {_plain(self.minimum)}")
        if value > self.maximum:
            raise ValidationError(self.name, "maximum", f"must be ≤ {_plain(self.maximum)}")
        return value

    def parse_int(self, raw: str) -> int:
        """:meth:`parse` for an integer parameter."""
        assert self.integer
        return int(self.parse(raw))


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


SEQ_AFTER = Bounded("after", True, 0, MAX_INT)
WAIT = Bounded("wait", False, 0, MAX_WAIT)
SIZE = Bounded("size", True, 1, MAX_INT)
PAGE = Bounded("page", True, 0, MAX_INT)
RELEASE = Bounded("release", True, 0, MAX_INT)
THROUGH = Bounded("through", True, 1, MAX_INT)
LIMIT = Bounded("limit", True, 1, MAX_SNAPSHOT_LIMIT, DEFAULT_SNAPSHOT_LIMIT)
# A list key is at most 64 characters (protocol._LIST_KEY); ``sync_lists`` of them, with
# their commas, make the longest ``lists`` query parameter.
LIST_KEY_CHARS = 64
# The longest snapshot position token: base64 of a list key, a code and a date.
MAX_TOKEN_CHARS = 512
# The longest ``scope``, as a query parameter and in a ledger report: what the ledger's
# column holds (sync_consumers.scope, String(64)), so a scope the feed accepts is never cut
# when its replica reports it.
SCOPE_CHARS = 64


def lists_chars(max_lists: int) -> int:
    """The longest ``lists`` value for ``max_lists`` keys."""
    return max_lists * (LIST_KEY_CHARS + 1)


def parse_epoch(raw: str) -> str:
    """An epoch as the centre names them (another well-formed one is a 410 later)."""
    if not _EPOCH.fullmatch(raw):
        raise ValidationError("epoch", "pattern", "must be 1–64 letters, digits, _ or -")
    return raw


def require_length(name: str, raw: str, limit: int) -> str:
    """``raw`` when it is at most ``limit`` characters."""
    if len(raw) > limit:
        raise ValidationError(name, "maxLength", f"must be at most {limit} characters")
    return raw
