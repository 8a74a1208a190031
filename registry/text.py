"""Text rules: names are stored in NFC, and search folds case, diacritics and tone marks.

Text that comes in is checked at the service boundary (:func:`check_text`), so the command
line, the web UI and GraphQL refuse alike: no C0 or C1 control character (a NUL breaks
PostgreSQL, which then refuses every replica's pull), no lone surrogate (not encodable as
UTF-8), except the line breaks and tabs a free-text note explicitly allows.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from registry.errors import ValidationError

_FOLD_EXTRA = str.maketrans({"đ": "d", "Đ": "d"})


def nfc(value: str) -> str:
    """Return ``value`` in Unicode NFC with surrounding whitespace removed."""
    return unicodedata.normalize("NFC", value).strip()


@lru_cache(maxsize=65536)
def fold(value: str) -> str:
    """Fold for search: ``"HÀ NỘI"``, ``"ha noi"`` and NFD ``"Hà Nội"`` all give ``"ha noi"``."""
    decomposed = unicodedata.normalize("NFD", value.translate(_FOLD_EXTRA))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(stripped.casefold().split())


# C0 controls, DEL and C1 controls, then the surrogate code points (only ever lone in a str).
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
NOTE_ALLOWS = "\n\r\t"
"""What a free-text note (a reviewer's comment, a rejection's reason) may hold besides text."""
URL_SCHEMES = ("http", "https")


def check_text(value: str, field: str, *, allow: str = "") -> str:
    """Return ``value`` if it holds no control character (other than those in ``allow``)
    and no lone surrogate; otherwise a one-line :class:`ValidationError` naming ``field``."""
    for found in _REFUSED.finditer(value):
        char = found.group()
        if char in allow:
            continue
        where = f"U+{ord(char):04X} at character {found.start() + 1}"
        if "\ud800" <= char <= "\udfff":
            raise ValidationError(field, "lone_surrogate",
                                  f"contains a lone surrogate ({where}), which is not text")
        raise ValidationError(field, "control_character",
                              f"contains the control character {where}; remove it")
    return value


def check_tree(value: Any, field: str) -> None:
    """:func:`check_text` on every string (keys included) of a JSON-like value."""
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                check_text(key, field)
            check_tree(item, f"{field}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_tree(item, f"{field}[{index}]")


def check_url(value: str, field: str) -> str:
    """An absolute ``http(s)`` URL (no ``javascript:``, ``data:``, ``file:``…), stripped."""
    url = check_text(value, field).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValidationError(field, "url", f"'{url}' is not a URL") from None
    if parts.scheme.lower() not in URL_SCHEMES or not parts.netloc:
        raise ValidationError(field, "url_scheme",
                              "must be an http:// or https:// address of a document")
    return url
