"""JSON documents from files, read strictly: bounded nesting, no repeated keys, no NaN.

``json.loads`` recurses once per level and ends in a ``RecursionError`` on a document
nested a hundred thousand deep, and it keeps the last of two equal keys without a word.
Here the nesting is measured first, by one linear scan that skips strings, and every
object is built by a hook that refuses a key it has already seen, so each fault is one line
naming the file (and its line where JSON has one) and the rule.
"""

from __future__ import annotations

import json
import re
from typing import Any

from registry.errors import ValidationError
from registry.limits import env_name, load_limits

# A string (escapes included, possibly unterminated at the end) or one bracket.
_TOKEN = re.compile(r'"(?:[^"\\]+|\\.)*"?|[\[\]{}]', re.DOTALL)


def too_deep_at(text: str, limit: int) -> int | None:
    """The offset of the first bracket that opens level ``limit + 1``, or ``None``."""
    depth = 0
    for found in _TOKEN.finditer(text):
        char = found.group()
        if char in "[{":
            depth += 1
            if depth > limit:
                return found.start()
        elif char in "]}":
            depth -= 1
    return None


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Repeated(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def load_json(text: str, name: str, max_depth: int | None = None) -> Any:
    """Parse ``text`` (the file ``name``), nested at most ``max_depth`` deep (default: the
    ``json_depth`` limit)."""
    limit = max_depth if max_depth is not None else load_limits().json_depth
    deep = too_deep_at(text, limit)
    if deep is not None:
        line, col = _line_col(text, deep)
        raise ValidationError(f"{name}:{line}:{col}", "depth",
                              f"nested more than {limit} levels deep "
                              f"({env_name('json_depth')})")
    try:
        return json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{name}:{exc.lineno}:{exc.colno}", "json",
                              f"malformed JSON: {exc.msg}") from None
    except _Repeated as exc:
        raise ValidationError(name, "duplicate_key",
                              f"the key '{exc.key}' appears twice in one object; a repeated "
                              "key would silently hide the first value") from None
    except ValueError as exc:  # NaN, Infinity
        raise ValidationError(name, "json", f"malformed JSON: {exc}") from None
