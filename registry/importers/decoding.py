"""Decoding text files from the field: UTF-8 (with or without BOM), UTF-16, Windows-1258."""

from __future__ import annotations

import codecs
import unicodedata

from registry.errors import ValidationError


def decode_text(data: bytes, field: str = "file") -> str:
    """Decode ``data`` by BOM, then strict UTF-8, then Windows-1258; return NFC text.

    Windows-1258 writes Vietnamese with combining tone marks, so NFC matters here as much as
    for NFD UTF-8 input.
    """
    if data.startswith(codecs.BOM_UTF8):
        text = data[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1258")
            except UnicodeDecodeError as exc:
                raise ValidationError(field, "encoding",
                                      f"is neither UTF-8, UTF-16 nor Windows-1258 "
                                      f"(byte {exc.start})") from None
    if "\x00" in text:
        raise ValidationError(field, "encoding", "contains NUL characters (UTF-16 without BOM?)")
    return unicodedata.normalize("NFC", text)
