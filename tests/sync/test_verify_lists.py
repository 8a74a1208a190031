"""A replica can verify one list of its subscription: only that list is compared (and
only its rows are read here and checksummed there)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from registry.errors import ValidationError
from registry.sync.protocol import Subscription
from tests import processes
from tests.sync.conftest import Centre, Targets, hanoi_replica


def _tamper(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE registry_versions SET name = 'Phường Sửa Tay' "
                          "WHERE list_key = 'admin-units' AND code = '00001'"))
    engine.dispose()


def _verify(centre: Centre, into: str, *args: str) -> subprocess.CompletedProcess[str]:
    return processes.run([sys.executable, "-m", "registry.sync", "verify", "--from",
                           centre.base, "--into", into, *args], capture_output=True,
                          text=True, timeout=120)


def test_one_list_is_verified_alone(sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    client, into = hanoi_replica(centre, targets)
    _tamper(into)
    try:
        everything = client.verify()
        agencies = client.verify(lists=("agencies",))
        units = client.verify(lists=("admin-units",))
    finally:
        client.close()
    assert not everything.ok and len(everything.lists) > 2
    assert agencies.ok and [r.list_key for r in agencies.lists] == ["agencies"]
    assert not units.ok and [r.list_key for r in units.lists] == ["admin-units"]
    assert any("00001" in p and "Phường Sửa Tay" in p for p in units.lists[0].problems)

    done = _verify(centre, into, "--lists", "agencies")
    assert done.returncode == 0, done.stderr
    assert "identical" in done.stdout and "admin-units" not in done.stdout
    done = _verify(centre, into, "--lists", "admin-units")
    assert done.returncode != 0 and "Phường Sửa Tay" in done.stdout


def test_a_list_outside_the_subscription_is_refused(sqlite_centre: Centre,
                                                    targets: Targets) -> None:
    centre = sqlite_centre
    client, into = hanoi_replica(centre, targets, subscription=Subscription(("agencies",)))
    try:
        with pytest.raises(ValidationError) as caught:
            client.verify(lists=("admin-units",))
    finally:
        client.close()
    assert caught.value.field == "lists" and caught.value.rule == "subscription"
    assert "'admin-units' not in this replica's subscription" in caught.value.message

    done = _verify(centre, into, "--lists", "admin-units")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: lists: 'admin-units' not in this replica's")
    done = _verify(centre, into, "--lists", "no such list")
    assert done.returncode != 0 and "'no such list' is not a list key" in done.stderr


def test_jobs_must_be_at_least_one(sqlite_centre: Centre, targets: Targets) -> None:
    done = processes.run([sys.executable, "-m", "registry", "sync", "verify", "--from",
                           sqlite_centre.base, "--into", targets.new("sqlite"), "--jobs", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "error: Invalid value for '--jobs': Input should be greater than or equal to 1; see "
        "'registry sync verify --help'"]
