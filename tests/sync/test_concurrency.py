"""Many replicas at once: fifty following clients receive the same release and all verify."""

from __future__ import annotations

import threading
import time

from registry.sync.client import ReleaseChanges, SyncClient
from tests.factories import hanoi
from tests.sync.conftest import Centre, Targets

CLIENTS = 50


def test_fifty_following_clients_receive_the_same_release(pg_centre: Centre,
                                                          targets: Targets) -> None:
    centre = pg_centre
    centre.run(hanoi)
    received: dict[int, list[ReleaseChanges]] = {i: [] for i in range(CLIENTS)}
    clients = [SyncClient(centre.base, targets.new("sqlite"), on_release=received[i].append)
               for i in range(CLIENTS)]
    threads = [threading.Thread(target=c.follow, kwargs={"wait": 10}, daemon=True)
               for c in clients]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(received.values()):
            time.sleep(0.1)
        assert all(received.values()), "not every client bootstrapped"
        release = centre.publish([{"op": "rename", "list": "admin-units", "code": "00013",
                                   "name": "Phường Quán Thánh Mới"}], "2025-03-01")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
                seen[-1].release == release for seen in received.values()):
            time.sleep(0.1)
    finally:
        for client in clients:
            client.shutdown()
        for thread in threads:
            thread.join(15)
    for seen in received.values():
        assert [c.release for c in seen] == [release - 1, release]
        assert [v["name"] for v in seen[-1].versions] == ["Phường Quán Thánh",
                                                          "Phường Quán Thánh Mới"]
    reports = [client.verify() for client in clients]
    assert all(r.ok and r.release == release for r in reports)
    for client in clients:
        client.close()
