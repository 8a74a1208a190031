"""The verification example of docs/webhooks.md accepts real deliveries and refuses
tampered, re-signed and stale ones."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from registry.db import session_factory, transaction
from registry.services.actors import SYSTEM
from registry.services.webhooks import subscriptions
from registry.services.webhooks.deliveries import RetryPolicy
from registry.webhooks.worker import WebhookWorker
from tests.conftest import Database
from tests.factories import hanoi
from tests.webhooks.receiver import running_receiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _documented_verify() -> Callable[..., bool]:
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert len(code.strip().splitlines()) <= 12, "the example must stay short"
    scope: dict[str, Any] = {}
    exec(code, scope)  # the documentation's own code, as a receiver would paste it
    verify: Callable[..., bool] = scope["verify"]
    return verify


def test_the_documented_check_verifies_a_real_delivery(database: Database) -> None:
    verify = _documented_verify()
    with running_receiver() as receiver:
        with transaction(session_factory(database.engine)) as session:
            secret = subscriptions.add_subscription(session, SYSTEM, receiver.url(),
                                                    None).secret
            hanoi(session)
        worker = WebhookWorker(session_factory(database.engine), RetryPolicy(timeout=2))
        worker.run_once()
        worker.close()
        got = receiver.wait_for(3)
    assert {r.json["type"] for r in got} == {"release.published", "changeset.status"}
    for delivery in got:
        assert verify(secret, delivery.headers, delivery.body)
    one = got[0]
    assert not verify(secret, one.headers, one.body + b" ")
    assert not verify(subscriptions.new_secret(), one.headers, one.body)
    assert not verify(secret, {**one.headers, "webhook-id": "999"}, one.body)
    stale = {**one.headers, "webhook-timestamp": str(int(one.headers["webhook-timestamp"])
                                                     - 3600)}
    assert not verify(secret, stale, one.body)
