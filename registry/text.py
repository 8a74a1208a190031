"""Text rules: names are stored in NFC, and search folds case, diacritics and tone marks."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

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
