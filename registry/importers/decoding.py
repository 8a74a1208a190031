"""Decoding text files from the field: UTF-8 (with or without BOM), UTF-16, Windows-1258.

A file that is not UTF-8 is one of the single-byte code pages, and the bytes alone must
say which: Windows-1258 (Vietnamese) and ISO-8859-1 (Latin-1, Western European) agree on
most bytes but not on the fourteen that Windows-1258 spends on Vietnamese (Ă ă Đ đ Ơ ơ Ư ư
₫ and the five combining tone marks). Vietnamese written in Windows-1258 puts those tone
marks after vowels; a Latin-1 file has Ì ì Ò ò Þ there, after anything. So a file is read
as Windows-1258 when it has a tone mark and each one follows a Vietnamese vowel, or when it
has none of the fourteen bytes at all (then both code pages read it alike). Anything else
would be a guess, and a wrong guess silently changes names, so it is refused, naming the
encodings tried, with its own rule (:data:`CODE_PAGE`), so that a page can say it in the
reader's language.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable

from registry.errors import ValidationError

_NUL = "contains NUL characters (UTF-16 without BOM?)"
CODE_PAGE = "code_page"
"""The rule of a file that is not UTF-8 and not clearly Vietnamese in Windows-1258."""
# Bytes whose character differs between Windows-1258 and ISO-8859-1 (0x80-0x9F aside).
_DIFFERENT = frozenset(b for b in range(0xA0, 0x100)
                       if bytes([b]).decode("cp1258", "replace") != chr(b))
_VOWELS = "aăâeêioôơuưyAĂÂEÊIOÔƠUƯY"
# The combining tone marks of Windows-1258: grave, acute, tilde, hook above, dot below.
_TONE = re.compile("[\u0300\u0301\u0303\u0309\u0323]")
_STRAY_TONE = re.compile(f"(?<![{_VOWELS}])[\u0300\u0301\u0303\u0309\u0323]")


def reads_as_windows_1258(chunks: Iterable[bytes]) -> bool:
    """Whether bytes that Windows-1258 decodes (in pieces of any size) read as Vietnamese:
    none of the bytes on which it and Latin-1 differ, or tone marks each after a vowel."""
    differ = tones = False
    before = ""  # the character before this chunk: a tone mark may open the next one
    for chunk in chunks:
        if not differ:
            differ = any(b in _DIFFERENT or 0x80 <= b < 0xA0 for b in set(chunk))
        text = chunk.decode("cp1258")  # one byte, one character: any cut is safe
        if _TONE.search(text):
            tones = True
            if _STRAY_TONE.search(before + text, 1 if before else 0):
                return False
        before = text[-1:] or before
    return tones or not differ


def decode_text(data: bytes, field: str = "file") -> str:
    """Decode ``data`` by BOM, then strict UTF-8, then Windows-1258 when the bytes are
    Vietnamese (see above); return NFC text.

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
        except UnicodeDecodeError as not_utf8:
            if b"\x00" in data:
                # UTF-16 without its BOM, not a code page whose letters are in doubt.
                raise ValidationError(field, "encoding", _NUL) from None
            try:
                text = data.decode("cp1258")
            except UnicodeDecodeError as exc:
                raise ValidationError(field, "encoding",
                                      f"is neither UTF-8 (byte {not_utf8.start}), UTF-16 nor "
                                      f"Windows-1258 (byte {exc.start}); save it as UTF-8"
                                      ) from None
            if not reads_as_windows_1258([data]):
                raise ValidationError(
                    field, CODE_PAGE,
                    f"is not UTF-8 (byte {not_utf8.start}), and its accented letters read "
                    "differently in Windows-1258 (Vietnamese) and ISO-8859-1 (Latin-1) "
                    "without being clearly Vietnamese; save it as UTF-8") from None
    if "\x00" in text:
        raise ValidationError(field, "encoding", _NUL)
    return unicodedata.normalize("NFC", text)
