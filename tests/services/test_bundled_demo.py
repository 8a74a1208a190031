"""``registry demo``: a fresh SQLite database loaded and served; a second run reuses it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from registry.cli import app
from registry.importers.demo import EXAMPLE_QUERIES
from tests import processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _graphql(port: int, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def _wait_for(port: int, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"demo exited early: {process.communicate()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("demo did not start serving")


def test_demo_loads_once_then_reuses_and_serves_the_example_queries(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    runner = CliRunner()
    env = {"COLUMNS": "120"}
    first = runner.invoke(app, ["demo", "--db", str(db), "--no-serve"], env=env)
    assert first.exit_code == 0, first.output
    assert "loaded 43 change sets" in first.output
    assert "admin-units 3355" in first.output  # 34 provinces + 3,321 communes on 2025-07-01
    second = runner.invoke(app, ["demo", "--db", str(db), "--no-serve"], env=env)
    assert second.exit_code == 0, second.output
    assert "all 43 bundled change sets were already loaded: reusing the database" \
        in second.output
    assert second.output.splitlines()[-1] == first.output.splitlines()[-1]

    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if k != "REGISTRY_DATABASE_URL"}
    process = processes.popen(
        [sys.executable, "-c", "from registry.cli import main; main()", "demo", "--db",
         str(db), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    try:
        _wait_for(port, process)
        answers = [_graphql(port, query) for _, query in EXAMPLE_QUERIES]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    for answer in answers:
        assert "errors" not in answer, answer
    successors = answers[0]["data"]["resolve"]["successors"]
    assert [(s["entry"]["code"], s["isDefault"]) for s in successors] == [("00004", True)]
    assert len(answers[1]["data"]["entries"]["edges"]) == 34
    found = {e["node"]["code"] for e in answers[2]["data"]["entries"]["edges"]}
    assert "001" in found  # Quận Ba Đình, found without its diacritics
    assert f"http://127.0.0.1:{port}/graphql" in output
    assert EXAMPLE_QUERIES[0][1] in output  # printed whole, ready to paste
