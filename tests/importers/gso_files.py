"""Helpers that write GSO files the way the field writes them: encodings, spreadsheets."""

from __future__ import annotations

import codecs
import io
import unicodedata
from pathlib import Path

from openpyxl import Workbook

from registry.importers.gso import HEADER_COMMUNES, HEADER_DISTRICTS

FIXTURES = Path(__file__).parent / "fixtures"
DISTRICTS = ",".join(HEADER_DISTRICTS)
COMMUNES = ",".join(HEADER_COMMUNES)


def csv_text(header: str, *rows: str) -> str:
    """A CSV document: the header line, then the rows."""
    return "\n".join([header, *rows]) + "\n"


def to_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letters plus combining tones.

    The code page has â, ê, ô, ơ, ư, đ but no precomposed toned vowels, so "ộ" is written
    as "ô" followed by a combining dot below.
    """
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", char)
        # Keep one mark on the base letter (â, ơ, …) and write the others combining.
        options = [(base + marks[i], marks[:i] + marks[i + 1:]) for i in range(len(marks))]
        for head, rest in [*options, (base, marks)]:
            try:
                written = unicodedata.normalize("NFC", head).encode("cp1258")
                written += "".join(rest).encode("cp1258")
            except UnicodeEncodeError:
                continue
            out += written
            break
        else:
            raise ValueError(f"{char!r} cannot be written in Windows-1258")
    return bytes(out)


def encode(text: str, encoding: str) -> bytes:
    """``text`` in one of the encodings the importer must accept."""
    if encoding == "utf-8":
        return text.encode("utf-8")
    if encoding == "utf-8-bom":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    if encoding == "utf-16":
        return text.encode("utf-16")  # with its BOM, as Excel's "Unicode text" writes it
    if encoding == "cp1258":
        return to_cp1258(text)
    if encoding == "nfd":
        return unicodedata.normalize("NFD", text).encode("utf-8")
    raise ValueError(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    """A workbook whose first sheet holds ``rows`` with their Python types."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
