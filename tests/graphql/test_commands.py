"""``registry token …`` and ``registry serve`` on a real uvicorn server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from registry.cli import app
from tests import processes
from tests.conftest import Database
from tests.factories import hanoi
from tests.graphql.conftest import Api

Write = Callable[[Callable[..., Any]], Any]


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database.url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_token_create_list_revoke(cli: Callable[..., Any], api: Api, database: Database) -> None:
    created = cli("token", "create", "--name", "tinh-01", "--role", "steward",
                  "--lists", "admin-units,agencies")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("rgt_") and "shown only now" in created.stdout
    viewer = api("{ viewer { name role lists } }", token=secret)["viewer"]
    assert viewer == {"name": "tinh-01", "role": "steward", "lists": ["admin-units", "agencies"]}

    listed = cli("token", "list", "--json")
    [row] = json.loads(listed.stdout)
    assert row["name"] == "tinh-01" and row["revoked_at"] is None
    assert secret not in listed.stdout
    with database.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM api_tokens").scalar_one()
    assert secret not in stored and len(stored) == 64  # only the hash is kept

    assert cli("token", "revoke", "tinh-01").exit_code == 0
    assert api.post("{ viewer { name } }", token=secret).status_code == 401
    again = cli("token", "revoke", "tinh-01")
    assert again.exit_code == 1 and "revoked" in again.output


def test_token_create_refuses_bad_input(cli: Callable[..., Any]) -> None:
    bad_role = cli("token", "create", "--name", "x", "--role", "god")
    assert bad_role.exit_code == 1 and "role" in bad_role.output
    bad_name = cli("token", "create", "--name", "a b", "--role", "reader")
    assert bad_name.exit_code == 1 and "name" in bad_name.output
    assert cli("token", "create", "--name", "x", "--role", "reader").exit_code == 0
    twice = cli("token", "create", "--name", "x", "--role", "reader")
    assert twice.exit_code == 1 and "exists" in twice.output
    assert cli("token", "revoke", "nobody").exit_code == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(database: Database, write: Write) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    write(hanoi)
    port = _free_port()
    env = {**os.environ, "REGISTRY_DATABASE_URL": database.url}
    process = processes.popen(
        [sys.executable, "-c", "from registry.cli import main; main()", "serve",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(
                    f"registry serve did not start: {process.stderr.read()}") from None
            time.sleep(0.2)
    yield url, process
    process.terminate()
    process.wait(10)


def test_serve_on_a_real_port(server: tuple[str, subprocess.Popen[str]]) -> None:
    url, process = server
    with httpx.Client(base_url=url, timeout=10) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "database": health.json()["database"],
                                 "release": 2}
        query = {"query": '{ administrativeUnit(code: "001", asOf: "2025-03-01") '
                          '{ name parent { name } children(first: 5) { nodes { code } } } }'}
        for _ in range(2):  # the second comes from the cache: same answer
            got = client.post("/graphql", json=query).json()["data"]["administrativeUnit"]
            assert got["name"] == "Quận Ba Đình"
            assert [n["code"] for n in got["children"]["nodes"]] == ["00001", "00004", "00013"]
        assert "graphiql" in client.get("/graphql", headers={"Accept": "text/html"}).text.lower()
        metrics = client.get("/metrics").text
        assert 'registry_graphql_operations_total{outcome="ok",type="query"}' in metrics
        assert 'registry_graphql_cache_total{result="hit"} 1.0' in metrics
        assert ('registry_http_requests_total{method="POST",route="/graphql",status="200"}'
                in metrics)
        request_id = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
        assert request_id.headers["x-request-id"] == "trace-42"
    process.terminate()
    _, err = process.communicate(timeout=10)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("message") == "request"]
    assert any(r["path"] == "/graphql" and r["status"] == 200 and r["duration_ms"] >= 0
               for r in requests)
    assert any(r.get("request_id") == "trace-42" for r in requests)
    assert all({"ts", "level", "logger"} <= set(line) for line in lines)
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]  # ours only
