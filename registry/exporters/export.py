"""Exporting a code list on a date, as a release said it: CSV, JSON or XLSX bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from registry.config import today
from registry.errors import ValidationError
from registry.exporters.tables import TableOut, entry_table, gso_table
from registry.exporters.writers import write_csv, write_xlsx
from registry.services import code_lists
from registry.services.export_reads import (
    all_links,
    all_versions,
    check_release,
    entries_on,
    resolutions,
)
from registry.services.queries import Resolution

FORMATS = ("csv", "json", "xlsx")
GSO_LIST = "admin-units"
JSON_FORMAT = "registry-export/1"


@dataclass(frozen=True)
class Export:
    """The bytes of an export and what they hold."""

    data: bytes
    list_key: str
    format: str
    as_of: date
    release: int
    rows: int


def list_table(session: Session, list_key: str, as_of: date,
               at_release: int | None) -> TableOut:
    """The list's active entries on ``as_of`` as a table (GSO layout for admin units)."""
    code_list = code_lists.get_list(session, list_key)
    entries = entries_on(session, list_key, as_of, at_release)
    if list_key == GSO_LIST:
        return gso_table(entries)
    attributes = list(code_list.definition.get("attributes", {}))
    return entry_table(entries, attributes)


def json_document(session: Session, list_key: str, as_of: date, at_release: int | None,
                  history: bool = False) -> dict[str, Any]:
    """Full versions on the date, the entries ended by then, and the lineage links.

    Each entry lists its direct predecessors and successors, and ``resolution``: what
    ``resolve`` answers for it on the date (an active code that gave parts of its area away
    is ambiguous, its own entry among its successors). The document alone thus converts
    an old code to a new one. ``history`` adds every version of every entry.
    """
    code_list = code_lists.get_list(session, list_key)
    release = check_release(session, at_release)
    on_date = entries_on(session, list_key, as_of, release, statuses=None)
    links = all_links(session, list_key, release, until=as_of)
    successors: dict[str, list[str]] = {}
    predecessors: dict[str, list[str]] = {}
    for link in links:
        successors.setdefault(link.from_code, []).append(link.to_code)
        predecessors.setdefault(link.to_code, []).append(link.from_code)

    resolved = resolutions(list_key, as_of, on_date, links)

    def entry(view: Any) -> dict[str, Any]:
        return {**view.as_dict(), "predecessors": predecessors.get(view.code, []),
                "successors": successors.get(view.code, []),
                "resolution": _resolution(resolved[view.code])}

    document: dict[str, Any] = {
        "format": JSON_FORMAT,
        "list": {"key": code_list.key, "name": code_list.name, "name_en": code_list.name_en,
                 "owner": code_list.owner, "definition": code_list.definition},
        "as_of": as_of.isoformat(), "release": release,
        "entries": [entry(v) for v in on_date if v.status == "active"],
        "ended": [entry(v) for v in on_date if v.status != "active"],
        "links": [link.as_dict() for link in links],
    }
    if history:
        document["versions"] = [v.as_dict() for v in all_versions(session, list_key, release)]
    return document


def _resolution(found: Resolution) -> dict[str, Any]:
    """A resolve answer without what the entry beside it already says (successors by code)."""
    return {"status": found.status,
            "ended_on": found.ended_on.isoformat() if found.ended_on else None,
            "divided_on": found.divided_on.isoformat() if found.divided_on else None,
            "ambiguous": found.ambiguous,
            "successors": [{"code": s.entry.code, "default": s.is_default,
                            "kinds": list(s.kinds), "share": s.share}
                           for s in found.successors]}


def export_list(session: Session, list_key: str, fmt: str, as_of: date | None = None,
                at_release: int | None = None, *, history: bool = False,
                bom: bool = False) -> Export:
    """Export ``list_key`` as ``fmt`` on ``as_of`` (default today) at ``at_release``."""
    if fmt not in FORMATS:
        raise ValidationError("format", "enum", f"must be one of: {', '.join(FORMATS)}")
    day = as_of or today()
    release = check_release(session, at_release)
    if fmt == "json":
        document = json_document(session, list_key, day, release, history)
        data = (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        return Export(data, list_key, fmt, day, release, len(document["entries"]))
    table = list_table(session, list_key, day, release)
    data = write_csv(table, bom) if fmt == "csv" else write_xlsx(table, list_key)
    return Export(data, list_key, fmt, day, release, len(table.rows))
