"""Planned reads on the asyncio readers, in a real server (uvicorn runs the app's lifespan).

Sixteen clients at once must get the answers the ordinary path gives, the reads must have
overlapped (the server opened more than one reader connection), and a reader connection
the database drops must cost nothing but a new connection: no error reaches a client.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from registry.db import make_engine, session_factory, transaction
from tests import processes
from tests.conftest import Templates, run_async
from tests.factories import publish
from tests.graphql.test_planned import Q1, Q2, Q3
from tests.sync.conftest import free_port

DAY = "2025-06-30"


class Server:
    """``registry serve`` on a loopback port, one worker."""

    def __init__(self, url: str, tmp: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = tmp / f"server-{self.port}.log"
        self.process = processes.popen(
            [sys.executable, "-m", "registry", "serve", "--port", str(self.port),
             "--workers", "1"],
            env={**os.environ, "REGISTRY_DATABASE_URL": url, "REGISTRY_GRAPHQL_CACHE": "0",
                 **env},
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.base}/healthz").is_success:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start in 30 s")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ask_all(self, requests: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
        """Every request at once (16 connections); the bodies, in order."""
        async def go() -> list[bytes]:
            limits = httpx.Limits(max_connections=16)
            async with httpx.AsyncClient(base_url=self.base, limits=limits) as client:
                async def one(query: str, variables: dict[str, Any]) -> bytes:
                    r = await client.post("/graphql",
                                          json={"query": query, "variables": variables})
                    assert r.status_code == 200, r.text
                    return r.content
                return await asyncio.gather(*(one(q, v) for q, v in requests))

        return run_async(go())

    def metric(self, name: str) -> float:
        found = re.search(rf"^{name} (\S+)$", httpx.get(f"{self.base}/metrics").text, re.M)
        return float(found.group(1)) if found else 0.0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def servers(templates: Templates,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, str]]:
    url = templates.fresh_url("postgresql", "bundled")
    tmp = tmp_path_factory.mktemp("readers")
    planned = Server(url, tmp, {})
    ordinary = Server(url, tmp, {"REGISTRY_GRAPHQL_PLANNED": "0"})
    yield planned, ordinary, url
    planned.stop()
    ordinary.stop()


def _requests(url: str) -> list[tuple[str, dict[str, Any]]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        districts = [r[0] for r in conn.execute(text(
            "SELECT code FROM entry_versions WHERE level = 'district' "
            "AND superseded_release IS NULL AND valid_from <= :d "
            "AND (valid_to IS NULL OR valid_to > :d) ORDER BY code LIMIT 40"), {"d": DAY})]
        ended = [r[0] for r in conn.execute(text(
            "SELECT DISTINCT from_code FROM lineage_links ORDER BY from_code LIMIT 40"))]
    engine.dispose()
    return ([(Q1, {"code": c, "asOf": DAY}) for c in districts]
            + [(Q2, {"q": t, "asOf": DAY}) for t in ("phuong", "Hà", "xã tân", "sơn") * 4]
            + [(Q3, {"code": c, "asOf": "2025-07-01"}) for c in ended])


def test_sixteen_clients_get_the_ordinary_answers(servers: tuple[Server, Server, str]) -> None:
    planned, ordinary, url = servers
    requests = _requests(url)
    assert len(requests) == 96
    got = planned.ask_all(requests)
    assert got == ordinary.ask_all(requests)
    assert all(b'"errors"' not in body for body in got)
    assert planned.metric('registry_graphql_path_total{path="planned"}') >= 96
    # The reads overlapped: one connection would have served them one after another.
    assert planned.metric("registry_graphql_reader_connections") > 1


def test_a_dropped_reader_connection_is_replaced(servers: tuple[Server, Server, str]) -> None:
    planned, ordinary, url = servers
    requests = _requests(url)[:32]
    want = ordinary.ask_all(requests)
    assert planned.ask_all(requests) == want
    engine = make_engine(url)
    with engine.connect() as conn:  # drop every connection the servers hold
        dropped = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        conn.commit()
    engine.dispose()
    assert dropped and dropped > 1
    for _ in range(3):  # the ordinary path answers the first ones; then readers reconnect
        assert planned.ask_all(requests) == want
    assert planned.metric("registry_graphql_reader_connections") >= 1


RENAMED = """query R($code: String!) { entry(list: "admin-units", code: $code) { code name } }"""


def test_no_cached_answer_of_an_older_release_after_a_publish(
        servers: tuple[Server, Server, str], tmp_path: Path) -> None:
    """With the cache on, sixteen clients share reads of the latest release; once a publish
    has committed, every answer asked afterwards is of the new release."""
    url = servers[2]
    cached = Server(url, tmp_path, {"REGISTRY_GRAPHQL_CACHE": "5000"})
    try:
        asks = [(RENAMED, {"code": "01"})] * 48
        before = cached.ask_all(asks)
        assert len(set(before)) == 1 and b"Th\\u00e0nh ph\\u1ed1 H\\u00e0 N\\u1ed9i" in before[0]
        assert cached.metric('registry_graphql_cache_total{result="hit"}') > 0
        engine = make_engine(url)
        with transaction(session_factory(engine)) as session:
            publish(session, [{"op": "rename", "list": "admin-units", "code": "01",
                               "name": "Thủ đô Hà Nội"}], effective="2025-01-01",
                    title="rename behind the server's back")
        engine.dispose()
        after = cached.ask_all(asks)
        assert set(after) == {after[0]} and b"Th\\u1ee7 \\u0111\\u00f4" in after[0]
    finally:
        cached.stop()
