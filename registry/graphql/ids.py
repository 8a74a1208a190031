"""Relay global IDs: opaque to clients, ``base64("Type:key")`` to us."""

from __future__ import annotations

import base64
import binascii

from registry.errors import ValidationError


def to_global(type_name: str, key: str) -> str:
    """The global ID of the object ``key`` of ``type_name``."""
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode()


def from_global(value: str, field: str = "id") -> tuple[str, str]:
    """(type name, key) of a global ID; anything else is a validation error on ``field``."""
    try:
        text = base64.urlsafe_b64decode(value.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError(field, "global_id", "is not an ID this server issued") from None
    type_name, sep, key = text.partition(":")
    if not sep or not type_name or not key:
        raise ValidationError(field, "global_id", "is not an ID this server issued")
    return type_name, key


MAX_KEY = 2**31 - 1
"""The largest number a key column holds (a 32-bit INTEGER on PostgreSQL)."""


def key_number(text: str) -> int | None:
    """``text`` as a key number: ASCII digits only, at most :data:`MAX_KEY`; else ``None``.

    ``str.isdigit`` alone would take other scripts' digits and numbers no column holds,
    which the database then refuses with an error that is not the client's to read.
    """
    if not text or len(text) > 10 or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if number <= MAX_KEY else None


def number_of(value: str, type_name: str, field: str) -> int:
    """A numeric key given either as the number itself or as a global ID of ``type_name``."""
    if value.isascii() and value.isdigit():
        number = key_number(value)
        if number is None:
            raise ValidationError(field, "range", f"must be a {type_name} number from 0 to "
                                                  f"{MAX_KEY}")
        return number
    found, key = from_global(value, field)
    number = key_number(key)
    if found != type_name or number is None:
        raise ValidationError(field, "global_id", f"is not the ID of a {type_name}")
    return number
