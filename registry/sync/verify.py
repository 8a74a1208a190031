"""Proof that a replica equals the centre: per-list checksums, then the rows that differ.

The replica and the centre compute the same order-independent checksum of each list at the
replica's release (:mod:`registry.services.checksums`). When a list differs, the centre's
snapshot of that list at that release is streamed and compared row by row, so the report
names each entry version or link that is missing, extra or different, and how.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from registry.errors import ValidationError
from registry.services.checksums import ListChecksum, link_digest, version_digest
from registry.sync.codec import decode_header, decode_records
from registry.sync.local_checksums import parallel_checksums
from registry.sync.local_store import LocalStore
from registry.sync.protocol import PREFIX, Subscription, from_wire
from registry.sync.transport import Transport

FIELDS = ("valid_to", "status", "name", "short_name", "name_en", "type", "level", "parent",
          "attributes", "release", "change_set")
LINK_FIELDS = ("kind", "default", "share", "release", "change_set")


@dataclass
class ListReport:
    """One list: equal, or what differs."""

    list_key: str
    ok: bool
    local: dict[str, Any] | None
    centre: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"list": self.list_key, "ok": self.ok, "local": self.local,
                "centre": self.centre, "problems": self.problems}


@dataclass
class VerifyReport:
    """The whole comparison."""

    ok: bool
    release: int
    seq: int
    epoch: str | None
    lists: list[ListReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"ok": self.ok, "release": self.release, "seq": self.seq, "epoch": self.epoch,
                "problems": self.problems, "lists": [r.as_dict() for r in self.lists]}


def iter_snapshot(transport: Transport, epoch: str, release: int, sub: Subscription,
                  limit: int = 10000) -> Iterator[dict[str, Any]]:
    """Every record of the centre's snapshot at ``release`` for ``sub``."""
    path = f"{PREFIX}/snapshot/{epoch}/{release}"
    token: str | None = None
    while True:
        params = {"lists": ",".join(sub.lists) if sub.lists else None,
                  "scope": str(sub.scope) if sub.scope else None, "limit": limit,
                  "after": token}
        where = transport.url(path, params)
        header, body = decode_header(transport.get(path, params).body, where)
        yield from map(from_wire, decode_records(header, body, where))
        token = header.get("next")
        if not token:
            return


def _describe(mine: dict[str, Any], theirs: dict[str, Any], fields: tuple[str, ...]) -> str:
    parts = [f"{name} is {mine.get(name)!r} here, {theirs.get(name)!r} at the centre"
             for name in fields if mine.get(name) != theirs.get(name)]
    return "; ".join(parts) or "the records differ"


def _rows(store: LocalStore, list_key: str, limit: int, transport: Transport, epoch: str,
          release: int, sub: Subscription) -> list[str]:
    """Row-by-row differences of one list (at most ``limit`` of them are described)."""
    with store.engine.connect() as conn:
        local_versions = {(r["code"], r["valid_from"]): r
                          for r in store.version_records(conn, list_key)}
        local_links = {(r["from"], r["to"], r["effective_date"]): r
                       for r in store.link_records(conn, list_key)}
    scope = sub.scope if sub.scope and sub.scope.list_key == list_key else None
    out: list[str] = []
    extra = 0

    def say(text: str) -> None:
        nonlocal extra
        if len(out) < limit:
            out.append(text)
        else:
            extra += 1

    for record in iter_snapshot(transport, epoch, release, Subscription((list_key,), scope)):
        kind = record.get("t")
        if kind == "version":
            key = (record["code"], record["valid_from"])
            mine = local_versions.pop(key, None)
            where = f"{list_key} {key[0]} valid from {key[1]}"
            if mine is None:
                say(f"{where}: missing here")
            elif version_digest(mine) != version_digest(record):
                say(f"{where}: {_describe(mine, record, FIELDS)}")
        elif kind == "link":
            link_key = (record["from"], record["to"], record["effective_date"])
            mine_link = local_links.pop(link_key, None)
            where = f"{list_key} link {link_key[0]} → {link_key[1]} on {link_key[2]}"
            if mine_link is None:
                say(f"{where}: missing here")
            elif link_digest(mine_link) != link_digest(record):
                say(f"{where}: {_describe(mine_link, record, LINK_FIELDS)}")
    for code, valid_from in sorted(local_versions):
        say(f"{list_key} {code} valid from {valid_from}: here, but not at the centre")
    for from_code, to_code, effective in sorted(local_links):
        say(f"{list_key} link {from_code} → {to_code} on {effective}: here, but not at the "
            "centre")
    if extra:
        out.append(f"… and {extra} more differences in {list_key}")
    return out


def verify_replica(store: LocalStore, transport: Transport, detail_limit: int = 20,
                   only: tuple[str, ...] | None = None, jobs: int = 1) -> VerifyReport:
    """Compare the replica with the centre at the replica's release (``only``: these
    lists of its subscription, not all of them; ``jobs``: processes for the checksums of
    large lists)."""
    state = store.state()
    report = VerifyReport(ok=True, release=state.release, seq=state.seq, epoch=state.epoch)
    if not state.bootstrapped or state.epoch is None:
        report.ok = False
        report.problems.append("this database was never bootstrapped: run 'registry sync "
                               "pull' first")
        return report
    head = transport.get(f"{PREFIX}/head").json()
    if head["epoch"] != state.epoch:
        report.ok = False
        report.problems.append(f"the centre's epoch is {head['epoch']}, this replica's is "
                               f"{state.epoch}: the centre was restored or rebuilt; 'registry "
                               "sync pull' takes a new snapshot")
        return report
    sub = state.subscription
    if only is not None:
        outside = [key for key in only if not sub.includes(key)]
        if outside:
            raise ValidationError("lists", "subscription",
                                  f"{', '.join(repr(k) for k in outside)} not in this "
                                  f"replica's subscription ({sub.describe()})")
    lists = only if only is not None else sub.lists
    params = {"lists": ",".join(lists) if lists else None,
              "scope": str(sub.scope) if sub.scope else None}
    centre = transport.get(f"{PREFIX}/checksums/{state.epoch}/{state.release}", params).json()
    if sub.is_full and (centre["seq"], centre["hash"]) != (state.seq, state.hash):
        report.ok = False
        report.problems.append(
            f"release {state.release} ends at seq {centre['seq']} with hash "
            f"{centre['hash'][:16]}… at the centre, but at seq {state.seq} with hash "
            f"{(state.hash or '')[:16]}… here: the replica is on another chain")
    theirs = {key: ListChecksum.from_dict(v) for key, v in centre["lists"].items()}
    mine = parallel_checksums(store, only, state.seq, jobs)
    for key in sorted(set(theirs) | set(mine)):
        local, remote = mine.get(key), theirs.get(key)
        item = ListReport(key, ok=True, local=local.as_dict() if local else None,
                          centre=remote.as_dict() if remote else None)
        report.lists.append(item)
        if local is None or remote is None:
            item.ok = False
            item.problems.append("the list is missing here" if local is None
                                 else "the list is here but not in the subscription at the "
                                      "centre")
        elif local.checksum != remote.checksum:
            item.ok = False
            item.problems.extend(local.differences(remote))
            item.problems.extend(_rows(store, key, detail_limit, transport, state.epoch,
                                       state.release, sub))
        report.ok = report.ok and item.ok
    return report
