"""An XLSX file's parts are measured before the workbook is opened.

An XLSX file is a ZIP archive, and a few kilobytes of it can unpack to gigabytes of sheet
XML: parsing that (even in openpyxl's read-only mode, which still holds the shared strings)
costs memory and minutes. The archive's directory states each part's uncompressed size, and
Python's ``zipfile`` never inflates a part past the size it states, so the sum of those
sizes bounds what parsing can read; it is checked against the ``xlsx_uncompressed_bytes``
limit first.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO

from registry.errors import ValidationError
from registry.limits import env_name, load_limits


def check_xlsx_size(archive: Path | IO[bytes], source: str, limit: int | None = None) -> None:
    """Refuse the workbook ``archive`` (named ``source`` in messages) if its parts unpack to
    more than ``limit`` bytes (default: the setting)."""
    bound = limit if limit is not None else load_limits().xlsx_uncompressed_bytes
    try:
        with zipfile.ZipFile(archive) as book:
            total = sum(part.file_size for part in book.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValidationError(source, "xlsx", f"is not a readable XLSX workbook: {exc}") from None
    if total > bound:
        raise ValidationError(source, "xlsx_size",
                              f"unpacks to {total:,} bytes, more than the {bound:,} allowed "
                              f"({env_name('xlsx_uncompressed_bytes')}); split the workbook "
                              "or save the sheet as CSV")
