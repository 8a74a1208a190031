"""``registry webhook …``: what an administrator types, and every refusal in one line with
nothing written."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from registry.cli import app
from registry.db import session_factory, transaction
from registry.models import WebhookDelivery, WebhookSubscription
from tests.conftest import Database
from tests.factories import hanoi
from tests.webhooks.receiver import running_receiver

Cli = Callable[..., Any]


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database.url)
    monkeypatch.setenv("REGISTRY_WEBHOOK_BACKOFF_SECONDS", "0.05")
    monkeypatch.setenv("REGISTRY_WEBHOOK_RETRY_SECONDS", "3")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def _count(database: Database, model: Any) -> int:
    with session_factory(database.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_add_run_log_and_replay(cli: Cli, database: Database) -> None:
    with running_receiver(default=500) as receiver:
        added = cli("webhook", "add", receiver.url(), "--events", "release.published",
                    "--scope", "01")
        assert added.exit_code == 0, added.output
        first, secret = added.output.strip().splitlines()
        assert first.startswith("webhook 1 → ") and "scope admin-units:01" in first
        assert secret.startswith("whsec_")
        with transaction(session_factory(database.engine)) as session:
            hanoi(session)
        ran = cli("webhook", "run", "--once")
        assert ran.exit_code == 0 and "1 POST, 0 delivered, to 1 subscription" in ran.output
        log = json.loads(cli("webhook", "deliveries", "1", "--json").output)
        assert log[0]["status"] == "pending"
        assert log[0]["attempts"][0]["status"] == 500
        # Past the retry window it is a dead letter; then replayed and delivered.
        time.sleep(3.1)
        cli("webhook", "run", "--once")
        listed = json.loads(cli("webhook", "list", "--json").output)
        assert listed[0]["dead"] == 1 and listed[0]["pending"] == 0
        receiver.default = 200
        replayed = cli("webhook", "replay", "--subscription", "1")
        assert replayed.output.strip() == "1 dead delivery queued again"
        assert "1 delivered" in cli("webhook", "run", "--once").output
        table = cli("webhook", "deliveries", "1").output
        assert "delivered" in table and "HTTP 500" not in table.splitlines()[3]
    removed = cli("webhook", "remove", "1")
    assert removed.output.strip() == "webhook 1 removed"
    assert json.loads(cli("webhook", "list", "--json").output) == []


@pytest.mark.parametrize(("args", "message"), [
    (["add", "ftp://example.org/hook"],
     "error: url: must be an http:// or https:// address of the receiver"),
    (["add", "http://127.0.0.1:9/", "--events", "release.publish"],
     "error: events: unknown event 'release.publish'; the events are: release.published, "
     "changeset.status"),
    (["add", "http://127.0.0.1:9/", "--lists", "admin-unit"],
     "error: lists: no code list 'admin-unit'; the lists are: admin-units, agencies, "
     "procedures"),
    (["add", "http://127.0.0.1:9/", "--scope", "01;drop"],
     "error: scope: '01;drop' is not a scope: use LIST:CODE or a code of admin-units, e.g. 01"),
    (["add", "http://127.0.0.1:9/", "--lists", "agencies", "--scope", "01"],
     "error: scope: the scope is in 'admin-units', which is not among the subscribed lists "
     "(agencies)"),
    (["deliveries", "7"], "error: no webhook subscription 7"),
    (["deliveries", "1", "--status", "lost"],
     "error: status: must be one of: pending, delivered, dead"),
    (["replay", "99"], "error: no webhook delivery 99"),
    (["replay"], "error: deliveries: name the deliveries to replay, or a subscription"),
    (["remove", "5"], "error: no webhook subscription 5"),
])
def test_refusals_name_the_field_and_write_nothing(cli: Cli, database: Database,
                                                  args: list[str], message: str) -> None:
    if args[0] in ("deliveries", "replay"):
        assert cli("webhook", "add", "http://127.0.0.1:9/").exit_code == 0
    before = (_count(database, WebhookSubscription), _count(database, WebhookDelivery))
    result = cli("webhook", *args)
    assert result.exit_code == 1
    assert result.output.strip() == message
    assert (_count(database, WebhookSubscription), _count(database, WebhookDelivery)) == before


def test_prune_says_what_it_deleted(cli: Cli, database: Database) -> None:
    done = cli("webhook", "prune", "--older-than", "30")
    assert done.exit_code == 0, done.output
    assert re.fullmatch(r"pruned 0 deliveries, 0 attempts and \d+ events?", done.output.strip())
    refused = cli("webhook", "prune", "--older-than", "0")
    assert refused.exit_code == 2 and "--older-than" in refused.output
