"""Every numeric parameter of the sync endpoints is held to the bounds the OpenAPI document
states, with a 400 naming the parameter and the rule; the ledger's rows belong to the
token that created them, and a report's ``lists`` is bounded."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from registry.db import session_factory, transaction
from registry.models import SyncConsumer
from registry.services.actors import SYSTEM
from registry.services.feed import read_head
from registry.services.tokens import create_token
from registry.sync import params
from registry.sync.app import create_sync_app
from tests.conftest import Database
from tests.factories import hanoi
from tests.sync.conftest import Centre
from tests.web.conftest import serve

HUGE = "99999999999999999999"


@pytest.fixture
def feed(database: Database) -> Iterator[tuple[httpx.Client, str]]:
    """A sync app over a database with one release, served, and the feed's epoch."""
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
        epoch = read_head(session).epoch
    with serve(database.url, factory=create_sync_app) as base, \
            httpx.Client(base_url=base, timeout=30) as client:
        yield client, epoch


def refused(client: httpx.Client, path: str, field: str, rule: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 400, (path, answer.status_code, answer.text)
    body = answer.json()
    assert (body["field"], body["rule"]) == (field, rule), (path, body)
    assert field in body["message"]


def test_out_of_range_and_malformed_numbers_are_400s_naming_the_rule(
        feed: tuple[httpx.Client, str]) -> None:
    client, epoch = feed
    refused(client, "/sync/v1/head?after=0&wait=61", "wait", "maximum")
    refused(client, "/sync/v1/head?after=0&wait=-1", "wait", "minimum")
    refused(client, "/sync/v1/head?after=0&wait=abc", "wait", "type")
    refused(client, "/sync/v1/head?after=0&wait=nan", "wait", "type")
    refused(client, "/sync/v1/head?after=0&wait=1e999", "wait", "maximum")
    refused(client, f"/sync/v1/head?after={HUGE}&wait=1", "after", "maximum")
    refused(client, "/sync/v1/head?after=" + "9" * 60_000, "after", "maximum")
    refused(client, f"/sync/v1/changes/{epoch}/1000/{HUGE}", "page", "maximum")
    refused(client, f"/sync/v1/changes/{epoch}/abc/0", "size", "type")
    refused(client, f"/sync/v1/changes/{epoch}/1000/0?after={HUGE}", "after", "maximum")
    refused(client, f"/sync/v1/changes/{epoch}/1000/-1", "page", "minimum")
    refused(client, f"/sync/v1/hashes/{epoch}/1000/{HUGE}", "page", "maximum")
    refused(client, f"/sync/v1/hashes/{epoch}/{HUGE}/0", "size", "maximum")
    refused(client, "/sync/v1/hashes/not%20an%20epoch/1000/0", "epoch", "pattern")
    refused(client, f"/sync/v1/hashes/{'e' * 65}/1000/0", "epoch", "pattern")
    for kind in ("snapshot", "checksums", "deltas"):
        refused(client, f"/sync/v1/{kind}/{epoch}/{HUGE}?scope=01", "release", "maximum")
        refused(client, f"/sync/v1/{kind}/{epoch}/1.5?scope=01", "release", "type")
    refused(client, f"/sync/v1/snapshot/{epoch}/1?limit=0", "limit", "minimum")
    refused(client, f"/sync/v1/snapshot/{epoch}/1?limit=50001", "limit", "maximum")
    many = ",".join(f"list-{i}" for i in range(101))
    refused(client, f"/sync/v1/checksums/{epoch}/1?lists={many}", "lists", "maxItems")


def _token(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def test_a_forged_snapshot_position_is_a_400(feed: tuple[httpx.Client, str]) -> None:
    client, epoch = feed
    for position in (["v", "admin-units", [1, 2]], ["v", "admin-units", 2**40],
                     ["v", "admin-units", ["0\u0000", "2025-01-01"]],
                     ["v", "admin-units", ["01", "not a date"]],
                     ["l", "admin-units", ["01", "2025-01-01"]],
                     ["v", "admin-units", 5]):
        refused(client, f"/sync/v1/snapshot/{epoch}/1?after={_token(position)}", "after",
                "token")
    good = client.get(f"/sync/v1/snapshot/{epoch}/1?limit=2")
    assert good.status_code == 200


def test_the_document_states_the_bounds_the_code_holds(feed: tuple[httpx.Client, str]) -> None:
    """For every bounded parameter in the document: its maximum passes the parameter's
    check and one more is refused by name; the same for its minimum."""
    client, epoch = feed
    document = client.get("/sync/v1/openapi.json").json()
    checked = 0
    for template, item in document["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        for param in operation.get("parameters", []):
            schema = param["schema"]
            if "maximum" not in schema:
                continue
            for value, beyond, rule in ((schema["maximum"], schema["maximum"] + 1, "maximum"),
                                        (schema["minimum"], schema["minimum"] - 1, "minimum")):
                for given, refuse in ((value, False), (beyond, True)):
                    answer = client.get(_url(template, epoch, param, given))
                    body = answer.json() if answer.status_code == 400 else {}
                    hit = body.get("field") == param["name"]
                    assert hit == refuse, (template, param["name"], given, answer.text)
                    if refuse:
                        assert body["rule"] == rule
                    checked += 1
    assert checked >= 40


def _url(template: str, epoch: str, param: dict[str, Any], value: Any) -> str:
    values = {"epoch": epoch, "size": 1000, "page": 0, "release": 1}
    query = {"scope": "01"}
    if param["in"] == "path":
        values[param["name"]] = value
    else:
        query[param["name"]] = value
    if param["name"] == "wait":
        query["after"] = "0"  # the head is beyond it: the answer comes at once
    path = template.format(**values)
    return path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def _report(client: httpx.Client, secret: str, **body: Any) -> Any:
    report = {"name": "tinh-01", "seq": 1, "release": 1, **body}
    # json.dumps escapes a lone surrogate, as a hostile client may send it.
    return client.post("/sync/v1/ledger", content=json.dumps(report),
                       headers={"Authorization": f"Bearer {secret}",
                                "Content-Type": "application/json"})


def test_a_ledger_row_belongs_to_the_token_that_created_it(
        database: Database, feed: tuple[httpx.Client, str]) -> None:
    client, _ = feed
    with transaction(session_factory(database.engine)) as session:
        first = create_token(session, SYSTEM, "replica-a", "sync").secret
        other = create_token(session, SYSTEM, "replica-b", "sync").secret
        admin = create_token(session, SYSTEM, "operator", "admin").secret
        reader = create_token(session, SYSTEM, "auditor", "reader").secret
    assert _report(client, first, seq=3).status_code == 200
    taken = _report(client, other, seq=0, release=0)
    assert taken.status_code == 403
    refusal = taken.json()
    assert (refusal["error"], refusal["field"], refusal["rule"]) == (
        "permission_denied", "name", "owner")
    assert refusal["message"].startswith("name: ") and "tinh-01" in refusal["message"]
    assert _report(client, other, name="tinh-02").status_code == 200
    assert _report(client, first, seq=4).status_code == 200
    assert _report(client, admin, seq=5).status_code == 200  # the operator may correct it
    assert _report(client, first, seq=6).status_code == 200  # and it still belongs to A
    consumers = client.get("/sync/v1/ledger",
                           headers={"Authorization": f"Bearer {reader}"}).json()["consumers"]
    assert {c["name"]: c["seq"] for c in consumers} == {"tinh-01": 6, "tinh-02": 1}


def test_a_reports_lists_are_bounded(database: Database, feed: tuple[httpx.Client, str]) -> None:
    client, _ = feed
    with transaction(session_factory(database.engine)) as session:
        secret = create_token(session, SYSTEM, "replica-a", "sync").secret
    assert _report(client, secret, lists=[f"l{i}" for i in range(100)]).status_code == 200
    too_many = _report(client, secret, lists=[f"l{i}" for i in range(101)])
    assert too_many.status_code == 400
    assert (too_many.json()["field"], too_many.json()["rule"]) == ("lists", "maxItems")
    too_long = _report(client, secret, lists=["x" * 65])
    assert (too_long.json()["field"], too_long.json()["rule"]) == ("lists", "maxLength")
    huge = _report(client, secret, seq=2**31)
    assert (huge.json()["field"], huge.json()["rule"]) == ("seq", "maximum")
    deep = client.post("/sync/v1/ledger", content=b"[" * 100_000 + b"]" * 100_000,
                       headers={"Authorization": f"Bearer {secret}",
                                "Content-Type": "application/json"})
    assert deep.status_code == 400
    nul = _report(client, secret, last_error="bad\u0000byte\ud800", client_version="1\u0000")
    assert nul.status_code == 200, nul.text


def test_the_lists_limit_is_a_setting(database: Database, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    monkeypatch.setenv("REGISTRY_MAX_SYNC_LISTS", "2")
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
        epoch = read_head(session).epoch
        secret = create_token(session, SYSTEM, "replica-a", "sync").secret
    with serve(database.url, factory=create_sync_app) as base, \
            httpx.Client(base_url=base, timeout=30) as client:
        assert _report(client, secret, lists=["a", "b", "c"]).status_code == 400
        refused(client, f"/sync/v1/checksums/{epoch}/1?lists=a,b,c", "lists", "maxItems")
        document = client.get("/sync/v1/openapi.json").json()
        body = document["paths"]["/sync/v1/ledger"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"]["properties"]["lists"][
            "maxItems"] == 2


def test_two_first_reports_under_one_name_race_to_one_owner(centre: Centre) -> None:
    """Both insert the row at once: one wins, the other is refused by the owner rule,
    never a 500 from the unique name."""
    secrets = centre.run(lambda s: [create_token(s, SYSTEM, f"racer-{i}", "sync").secret
                                    for i in range(2)])
    for round_ in range(8):
        statuses = _race(centre, secrets, f"race-{round_}")
        assert sorted(statuses) == [200, 403], statuses


def _race(centre: Centre, secrets: list[str], name: str) -> list[int]:
    """Each secret reports ``name`` at the same moment; the statuses."""
    barrier = threading.Barrier(len(secrets))
    statuses: list[int] = []

    def report(secret: str) -> None:
        body = json.dumps({"name": name, "seq": 1, "release": 1}).encode()
        request = urllib.request.Request(
            f"{centre.base}/sync/v1/ledger", data=body, method="POST",
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
        barrier.wait()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                statuses.append(answer.status)
        except urllib.error.HTTPError as refused:
            statuses.append(refused.code)

    threads = [threading.Thread(target=report, args=(s,)) for s in secrets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_the_scope_the_feed_takes_is_the_scope_the_ledger_keeps(
        database: Database, feed: tuple[httpx.Client, str]) -> None:
    client, epoch = feed
    with transaction(session_factory(database.engine)) as session:
        secret = create_token(session, SYSTEM, "replica-a", "sync").secret
    longest = "admin-units:" + "9" * (params.SCOPE_CHARS - len("admin-units:"))
    # The longest scope the query parameter takes is well formed…
    assert client.get(f"/sync/v1/checksums/{epoch}/1?scope={longest}").status_code == 200
    refused(client, f"/sync/v1/checksums/{epoch}/1?scope={longest}9", "scope", "maxLength")
    # …and a replica reporting it finds it whole in the ledger, on every database.
    assert _report(client, secret, scope=longest).json()["scope"] == longest
    assert SyncConsumer.__table__.c.scope.type.length == params.SCOPE_CHARS
    document = client.get("/sync/v1/openapi.json").json()
    query = next(p for p in document["paths"]["/sync/v1/snapshot/{epoch}/{release}"]["get"][
        "parameters"] if p["name"] == "scope")
    report = document["paths"]["/sync/v1/ledger"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]["scope"]
    assert str(query["schema"]["maxLength"]) in report["description"]
