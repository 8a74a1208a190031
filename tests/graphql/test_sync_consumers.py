"""The sync ledger over GraphQL: positions, lag and the tokens that may read them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from registry.services import sync_ledger
from registry.services.actors import Actor
from registry.services.feed import read_head
from tests.factories import hanoi
from tests.graphql.conftest import Api

QUERY = """{ syncConsumers { name epoch seq release lists scope lastContact lastError
  clientVersion currentEpoch lagReleases lagRecords } }"""
REPLICA = Actor("replica", "sync")


def _report(session: Session) -> None:
    head = read_head(session)
    sync_ledger.report_position(session, REPLICA, sync_ledger.PositionReport(
        name="ha-noi", epoch=head.epoch, seq=1, release=1, scope="01",
        client_version="0.1.0"))
    sync_ledger.report_position(session, REPLICA, sync_ledger.PositionReport(
        name="old-backup", epoch="0" * 32, seq=5, release=2, lists=["admin-units"],
        last_error="410 Gone"))
    hanoi(session)  # a release after their reports: ha-noi falls behind


def test_consumers_with_their_lag(api: Api, write: Callable[..., Any],
                                  token: Callable[..., str]) -> None:
    write(_report)
    head = write(read_head)
    rows = api(QUERY, token=token("auditor", "reader"))["syncConsumers"]
    # Replicas on another epoch first (they must re-bootstrap), then the most behind.
    assert [r["name"] for r in rows] == ["old-backup", "ha-noi"]
    old, ha_noi = rows
    assert ha_noi["currentEpoch"] is True and ha_noi["scope"] == "01"
    assert ha_noi["lagReleases"] == head.release - 1 and ha_noi["lagRecords"] == head.seq - 1
    assert ha_noi["clientVersion"] == "0.1.0" and ha_noi["lastContact"]
    # A replica of another epoch must take a new snapshot: its numbers do not compare.
    assert old["currentEpoch"] is False and old["lagReleases"] is None
    assert old["lists"] == ["admin-units"] and old["lastError"] == "410 Gone"


def test_anonymous_and_sync_tokens_are_refused(api: Api, write: Callable[..., Any],
                                               token: Callable[..., str]) -> None:
    write(_report)
    anonymous = api.errors(QUERY)
    assert "needs an API token" in anonymous[0]["message"]
    assert anonymous[0]["extensions"]["code"] == "permission_denied"
    # A sync token reports its own position and reads the feed; nothing else.
    refused = api.errors(QUERY, token=token("replica", "sync"))
    assert refused[0]["extensions"]["code"] == "permission_denied"
    assert "sync" in refused[0]["message"]
