"""Deliveries are rows: a server killed in the middle of retries loses nothing, and the
next server process delivers in order (issue: pushed notifications)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from registry.db import session_factory, transaction
from registry.services.actors import SYSTEM
from registry.services.webhooks import deliveries, subscriptions
from tests.conftest import Database
from tests.factories import unit
from tests.sync.conftest import Centre
from tests.webhooks.receiver import running_receiver


def test_a_crash_in_the_middle_of_retries_loses_nothing(database: Database,
                                                        tmp_path: Path) -> None:
    centre = Centre(url=database.url, backend=database.backend, engine=database.engine,
                    tmp=tmp_path, factory="registry.app:create_served_app",
                    env={"REGISTRY_WEBHOOKS": "1", "REGISTRY_WEBHOOK_BACKOFF_SECONDS": "0.1",
                         "REGISTRY_WEBHOOK_BACKOFF_MAX_SECONDS": "0.3",
                         "REGISTRY_WEBHOOK_TIMEOUT_SECONDS": "1"})
    sessions = session_factory(database.engine)
    with running_receiver(default=500) as receiver:
        with transaction(sessions) as session:
            sub = subscriptions.add_subscription(session, SYSTEM, receiver.url(),
                                                 "release.published").id
        first = centre.publish([unit("01", "Thành phố Hà Nội", "Thành phố Trung ương")])
        centre.start()
        try:
            deadline = time.monotonic() + 30
            while len(receiver.received) < 3:
                assert time.monotonic() < deadline, "the served worker never tried"
                time.sleep(0.05)
            assert centre.process is not None
            centre.process.send_signal(signal.SIGKILL)  # a crash, not a clean stop
            centre.process.wait()
            refused = len(receiver.received)
            second = centre.publish([unit("02", "Tỉnh Hà Giang", "Tỉnh")])
            receiver.default = 200
            time.sleep(0.5)
            assert len(receiver.received) == refused  # nobody delivers while it is down
            centre.start()
            got = receiver.wait_for(2, seconds=40)
        finally:
            centre.stop()
    assert [r.json["data"]["release"] for r in got] == [first, second]
    assert all(r.status == 500 for r in receiver.received[:refused])
    with transaction(sessions) as session:
        rows = list(reversed(deliveries.deliveries_of(session, sub)))
        assert [row.status for row in rows] == ["delivered", "delivered"]
        # The refusals before the crash are in the log, with the success after it.
        # (a POST answered just as the server died may not have been written down)
        assert refused <= rows[0].attempts <= refused + 1
