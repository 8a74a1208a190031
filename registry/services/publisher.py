"""Writing a plan: new records, superseded records, lineage, one release, its feed records."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ARRAY, Integer, any_, bindparam, select, text, update
from sqlalchemy.orm import Session

from registry.db import bulk_insert
from registry.errors import ValidationErrors
from registry.models import ChangeSet, Entry, EntryVersion, LineageLink
from registry.models.base import table_of
from registry.services.feed import FeedWriter, lock_head
from registry.services.plan_fingerprint import PlanChanged, fingerprint, replaced_ids
from registry.services.planner import Plan, plan_operations
from registry.services.releases import close_release, open_release
from registry.services.world import Key, State
from registry.text import fold
from registry.write_behind import WriteBehind

BATCH = 2000
ANALYZE_AFTER = 5000
ENTRIES = table_of(Entry)
VERSIONS = table_of(EntryVersion)
LINKS = table_of(LineageLink)


def version_record(list_key: str, code: str, valid_from: date, valid_to: date | None,
                   state: State, change_set_id: int) -> dict[str, Any]:
    """The feed record of one entry version: the full state, an idempotent upsert."""
    return {"t": "version", "list": list_key, "code": code,
            "valid_from": valid_from.isoformat(),
            "valid_to": valid_to.isoformat() if valid_to else None,
            "change_set": change_set_id, **state.as_dict()}


def link_record(link_row: dict[str, Any], list_key: str) -> dict[str, Any]:
    """The feed record of one lineage link."""
    return {"t": "link", "list": list_key, "from": link_row["from_code"],
            "to": link_row["to_code"], "kind": link_row["kind"],
            "default": link_row["is_default"], "share": link_row["share"],
            "effective_date": link_row["effective_date"].isoformat(),
            "change_set": link_row["change_set_id"]}


def publish_change_set(session: Session, change_set: ChangeSet,
                       operations: list[dict[str, Any]], actor: str,
                       approved_plan: str | None = None) -> int:
    """Lock the feed, plan against the newest state, refuse on any error, write; return R.

    With ``approved_plan`` (the fingerprint taken at approval), a plan that is no longer
    the approved one is refused with :class:`PlanChanged` before anything is written.
    """
    # Lock first, so the plan sees every release committed before ours; write nothing
    # until the plan is known to be valid.
    head = lock_head(session)
    plan = plan_operations(session, change_set.effective_date, operations)
    if approved_plan is not None and fingerprint(plan) != approved_plan:
        raise PlanChanged(change_set.id)
    if plan.errors:
        raise ValidationErrors(plan.errors)
    release = open_release(session, actor, change_set.title, change_set.id, head)
    write_plan(session, plan, release.number, change_set.id, release.feed)
    summary = plan.summary()
    summary["records"] = release.feed.seq - release.feed.first_seq + 1
    if summary["records"] >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        # A large release changes the tables' shape before autovacuum notices: without fresh
        # statistics, searches right after the 2025 reform took 120 ms instead of 8 ms.
        session.execute(text("ANALYZE entries, entry_versions, lineage_links"))
    close_release(session, release, summary, {
        "change_set": change_set.id, "title": change_set.title,
        "effective_date": change_set.effective_date.isoformat(),
        "legal_basis": {"number": change_set.legal_number,
                        "date": change_set.legal_date.isoformat(),
                        "issuer": change_set.legal_issuer, "url": change_set.legal_url},
        "summary": summary,
    })
    return release.number


def write_plan(session: Session, plan: Plan, release: int, change_set_id: int,
               feed: FeedWriter) -> None:
    """Insert the plan's records; the database writes while the next batch is built."""
    world = plan.world
    on = plan.effective_date
    entry_ids = _insert_entries(session, plan, release)
    superseded = replaced_ids(plan)
    default_sink = feed.sink
    with WriteBehind(session) as writes:
        feed.sink = writes.insert
        world.sealed = True
        try:
            _supersede(writes, superseded, release)
            _write_versions(writes, plan, entry_ids, release, change_set_id, feed)
            links = [{"list_id": world.lists[lk.list_key].id, "from_code": lk.from_code,
                      "to_code": lk.to_code, "kind": lk.kind, "is_default": lk.default,
                      "share": lk.share, "effective_date": lk.effective_date or on,
                      "change_set_id": change_set_id,
                      "release_id": release} for lk in plan.links]
            writes.insert(LINKS, links)
            for link, row in zip(plan.links, links, strict=True):
                feed.append(link_record(row, link.list_key))
        finally:
            feed.sink = default_sink
            world.sealed = False


def _insert_entries(session: Session, plan: Plan, release: int) -> dict[Key, int]:
    """Insert the entries of new codes and return every new entry's id."""
    by_list: dict[str, list[str]] = {}
    for (lk, code), change in plan.changes.items():
        if change.kind == "create":
            by_list.setdefault(lk, []).append(code)
    entry_ids: dict[Key, int] = {}
    for lk, codes in by_list.items():
        list_id = plan.world.lists[lk].id
        # Insert, then read the ids back in one pass: RETURNING with a guaranteed order
        # makes SQLite fall back to one statement per row, and per-chunk look-ups are
        # planned on stale statistics while the table grows.
        bulk_insert(session, ENTRIES, [
            {"list_id": list_id, "code": code, "created_release": release} for code in codes])
        for entry_id, code in session.execute(
            select(ENTRIES.c.id, ENTRIES.c.code).where(
                ENTRIES.c.list_id == list_id, ENTRIES.c.created_release == release)):
            entry_ids[(lk, code)] = entry_id
    return entry_ids


def _supersede(writes: WriteBehind, ids: list[int], release: int) -> None:
    if not ids:
        return
    if writes.connection.dialect.name == "postgresql":  # one array parameter
        writes.execute(update(VERSIONS).where(
            VERSIONS.c.id == any_(bindparam(None, ids, type_=ARRAY(Integer))))
            .values(superseded_release=release))
        return
    for start in range(0, len(ids), BATCH):
        writes.execute(update(VERSIONS).where(VERSIONS.c.id.in_(ids[start:start + BATCH]))
                       .values(superseded_release=release))


def _write_versions(writes: WriteBehind, plan: Plan, entry_ids: dict[Key, int], release: int,
                    change_set_id: int, feed: FeedWriter) -> None:
    world = plan.world
    on = plan.effective_date
    versions: list[dict[str, Any]] = []

    def add(key: Key, entry_id: int, valid_from: date, valid_to: date | None,
            state: State) -> None:
        versions.append({
            "entry_id": entry_id, "list_id": world.lists[key[0]].id, "code": key[1],
            "valid_from": valid_from, "valid_to": valid_to, "recorded_release": release,
            "superseded_release": None, "change_set_id": change_set_id,
            "status": state.status, "name": state.name, "short_name": state.short_name,
            "name_en": state.name_en, "type": state.type, "level": state.level,
            "parent_code": state.parent, "attributes": state.attributes,
            "search_key": fold(state.name),
        })
        feed.append(version_record(key[0], key[1], valid_from, valid_to, state, change_set_id))

    for key, change in plan.changes.items():
        if change.versions is not None:
            entry_id = entry_ids[key] if change.kind == "create" else world.get(key).entry_id
            assert entry_id is not None
            for r in change.versions:
                add(key, entry_id, r.valid_from, r.valid_to, r.state)
        elif change.kind == "create":
            add(key, entry_ids[key], on, None, change.after)
        else:
            base = world.version_on(key)
            loaded = world.get(key)
            assert base is not None and loaded.entry_id is not None
            if change.kind == "correct":
                add(key, loaded.entry_id, base.valid_from, base.valid_to, change.after)
            elif base.valid_from == on:
                add(key, loaded.entry_id, on, base.valid_to, change.after)
            else:
                assert change.before is not None
                add(key, loaded.entry_id, base.valid_from, on, change.before)
                add(key, loaded.entry_id, on, base.valid_to, change.after)
        if len(versions) >= BATCH:
            writes.insert(VERSIONS, versions)
            versions = []
    writes.insert(VERSIONS, versions)
