"""Uploaded CSV/XLSX files between their preview and their saving.

Nothing reaches the database at upload: the file waits in a private temporary directory
under a random name, the steward reads the preview, and only the "save" post (which names
the upload) turns it into operations. The file is planned again then, against the registry
as it is at that moment, through the same importer functions as ``registry import``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from registry.errors import NotFound
from registry.importers.csv_generic import plan_csv_import
from registry.importers.gso import parse_table as parse_gso
from registry.importers.gso_import import plan_gso_import
from registry.importers.plans import ImportPlan
from registry.importers.tabular import read_table

TTL_SECONDS = 3600
LAYOUTS = ("gso", "csv")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


@dataclass(frozen=True)
class Upload:
    """What the steward asked for with a file."""

    change_set_id: int
    owner: str
    filename: str
    layout: str
    list_key: str
    whole: bool
    skip_bad: bool


def _directory() -> Path:
    path = Path(os.environ.get("REGISTRY_UPLOAD_DIR")
                or Path(tempfile.gettempdir()) / "registry-web-uploads")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _sweep(directory: Path) -> None:
    cutoff = time.time() - TTL_SECONDS
    for item in directory.iterdir():
        try:
            if item.stat().st_mtime < cutoff:
                item.unlink()
        except OSError:
            continue  # another worker removed it first


def stage(upload: Upload, data: bytes) -> str:
    """Keep the file until it is saved or expires; return the token that names it."""
    directory = _directory()
    _sweep(directory)
    token = secrets.token_urlsafe(32)
    (directory / f"{token}.bin").write_bytes(data)
    (directory / f"{token}.json").write_text(json.dumps(asdict(upload)), "utf-8")
    return token


def load(token: str, change_set_id: int, owner: str) -> tuple[Upload, bytes]:
    """The staged file; another user's, another change set's or an expired one is not found."""
    if not _TOKEN.fullmatch(token):
        raise NotFound("no such upload")
    directory = _directory()
    try:
        meta = json.loads((directory / f"{token}.json").read_text("utf-8"))
        data = (directory / f"{token}.bin").read_bytes()
        stamp = (directory / f"{token}.bin").stat().st_mtime
    except (OSError, ValueError):
        raise NotFound("the upload has expired; upload the file again") from None
    upload = Upload(**meta)
    if (upload.change_set_id != change_set_id or upload.owner != owner
            or stamp < time.time() - TTL_SECONDS):
        raise NotFound("the upload has expired; upload the file again")
    return upload, data


def discard(token: str) -> None:
    """Forget a staged file."""
    if not _TOKEN.fullmatch(token):
        return
    for suffix in (".bin", ".json"):
        try:
            (_directory() / f"{token}{suffix}").unlink()
        except FileNotFoundError:
            continue


def plan_upload(session: Session, upload: Upload, data: bytes, effective: date) -> ImportPlan:
    """The importer's plan for the file: operations, descriptions and bad rows."""
    table = read_table(data, upload.filename)
    if upload.layout == "gso":
        return plan_gso_import(session, parse_gso(table), effective, upload.whole)
    return plan_csv_import(session, upload.list_key, table, effective,
                           retire_missing=upload.whole)
