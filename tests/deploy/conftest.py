"""A registry node (a real uvicorn process of the whole app) behind a real nginx configured
from deploy/nginx/registry.conf.

nginx is required: without it these tests fail under ``CI=true`` (CI installs nginx-light)
and are skipped elsewhere, as PostgreSQL is required by tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry.db import make_engine
from tests.conftest import Templates
from tests.deploy.nginx import Nginx, nginx_binary
from tests.sync.conftest import Centre


@pytest.fixture(scope="session")
def nginx_path() -> str:
    """The nginx executable; its absence fails the run in CI."""
    found = nginx_binary()
    if found is None:
        message = ("nginx is required for the tests of deploy/nginx and is not installed "
                   "(apt-get install nginx-light)")
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


@dataclass
class Edge:
    """A node and the nginx in front of it."""

    centre: Centre
    nginx: Nginx

    @property
    def base(self) -> str:
        """Where clients go: nginx."""
        return self.nginx.base

    def origin_count(self, prefix: str = "/", at_least: int = 0) -> int:
        """How many requests the node has answered, once its log has settled: a request's
        line is written just after its answer is sent, so it may lag behind the client."""
        deadline = time.monotonic() + 5
        count, since = len(self.origin_requests(prefix)), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = len(self.origin_requests(prefix))
            if now != count:
                count, since = now, time.monotonic()
            elif count >= at_least and time.monotonic() - since >= 0.3:
                break
        return count

    def origin_requests(self, prefix: str = "/") -> list[dict[str, Any]]:
        """The requests the node has answered (its JSON request log), by path prefix."""
        found = []
        for line in (self.centre.tmp / f"centre-{self.centre.port}.log").read_text(
                "utf-8", errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("message") == "request" and record["path"].startswith(prefix):
                found.append(record)
        return found


@pytest.fixture
def make_edge(templates: Templates, tmp_path: Path, nginx_path: str
              ) -> Iterator[Callable[..., Edge]]:
    """``make_edge(anonymous_read=True, env={…})``: a SQLite node paging its feed by 5
    records (so that small releases make complete, immutable pages), behind nginx."""
    made: list[Edge] = []

    def build(anonymous_read: bool = True, env: dict[str, str] | None = None) -> Edge:
        url = templates.fresh_url("sqlite")
        directory = tmp_path / f"edge{len(made)}"
        directory.mkdir()
        centre = Centre(url=url, backend="sqlite", engine=make_engine(url), tmp=directory,
                        page_size=5, factory="registry.app:create_served_app",
                        env={"REGISTRY_ANONYMOUS_READ": "1" if anonymous_read else "0",
                             "REGISTRY_LOG_LEVEL": "INFO", **(env or {})})
        centre.start()
        nginx = Nginx(nginx_path, directory / "nginx", [f"127.0.0.1:{centre.port}"],
                      anonymous_read=anonymous_read)
        nginx.directory.mkdir()
        edge = Edge(centre, nginx)
        made.append(edge)
        nginx.start()
        return edge

    yield build
    for edge in made:
        edge.nginx.stop()
        edge.centre.stop()
        edge.centre.engine.dispose()
