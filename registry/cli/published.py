"""The diff a published change set made, read back from what its release recorded.

A draft's diff is planned (``change_sets.preview``); a published one is history: the
versions its release recorded, each beside the version the release before said was valid
on the effective date, and the lineage links it drew.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import ChangeSet, CodeList, EntryVersion, LineageLink
from registry.services import queries

# What a version says; its dates only bound it (a change starts a version on its day).
_FIELDS = ("name", "short_name", "name_en", "type", "level", "parent", "status", "attributes")
_CHUNK = 500  # codes per query: well under every backend's limit of bound parameters


def published_diff(session: Session, cs: ChangeSet) -> dict[str, Any]:
    """The changes and links of the published change set ``cs``, in the preview's shape."""
    release = cs.release_id
    assert release is not None
    day = cs.effective_date
    touched: dict[str, list[str]] = defaultdict(list)
    for key, code in session.execute(
        select(CodeList.key, EntryVersion.code).distinct()
        .join(CodeList, CodeList.id == EntryVersion.list_id)
        .where(EntryVersion.recorded_release == release,
               EntryVersion.change_set_id == cs.id)
        .order_by(CodeList.key, EntryVersion.code)
    ):
        touched[key].append(code)
    changes: list[dict[str, Any]] = []
    for key, codes in touched.items():
        for start in range(0, len(codes), _CHUNK):
            chunk = codes[start:start + _CHUNK]
            after = queries.get_entries(session, key, chunk, day, release)
            before = (queries.get_entries(session, key, chunk, day, release - 1)
                      if release > 1 else {})
            changes.extend(_change(key, code, before.get(code), after.get(code))
                           for code in chunk)
    links = [{"list": key, "from": link.from_code, "to": link.to_code, "kind": link.kind,
              "default": link.is_default, "share": link.share}
             for link, key in session.execute(
                 select(LineageLink, CodeList.key)
                 .join(CodeList, CodeList.id == LineageLink.list_id)
                 .where(LineageLink.release_id == release, LineageLink.change_set_id == cs.id)
                 .order_by(LineageLink.id)).tuples()]
    summary = dict(Counter(c["kind"] for c in changes))
    summary["links"] = len(links)
    return {"effective_date": day.isoformat(), "release": release, "summary": summary,
            "changes": changes, "links": links, "errors": []}


def _change(key: str, code: str, before: queries.EntryView | None,
            after: queries.EntryView | None) -> dict[str, Any]:
    old = before.as_dict() if before else None
    new = after.as_dict() if after else None
    if old is None:
        kind, fields = "create", []
    else:
        fields = [f for f in _FIELDS if new is None or old.get(f) != new.get(f)]
        kind = "retire" if new is None or new["status"] != old["status"] else "update"
    return {"list": key, "code": code, "kind": kind, "before": old, "after": new,
            "fields": fields}
