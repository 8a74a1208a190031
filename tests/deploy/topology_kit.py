"""The scale-out topology (scripts/topology.py) for tests: start, publish through a node,
read a node's metrics."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from registry.db import make_engine, session_factory, transaction
from registry.services import tokens
from registry.services.actors import SYSTEM

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


topology = _load("topology")


def require_tools(*names: str) -> None:
    """Fail (under CI) or skip (elsewhere) when a server binary the topology needs is
    missing: CI must not pass without them."""
    missing = [n for n in names if shutil.which(n) is None
               and not Path(f"/usr/sbin/{n}").exists()]
    if not missing:
        return
    message = f"the topology needs {', '.join(missing)} (Debian packages)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def issue_token(url: str, name: str, role: str, lists: list[str] | None = None) -> str:
    """A token on the primary; its secret."""
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            return tokens.create_token(session, SYSTEM, name, role, lists).secret
    finally:
        engine.dispose()


def graphql(base: str, query: str, token: str | None = None,
            headers: dict[str, str] | None = None) -> httpx.Response:
    """POST ``query`` to ``base``/graphql."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{base}/graphql", json={"query": query}, headers=sent, timeout=30)


def data(response: httpx.Response) -> Any:
    """The answer's data, asserting it has no errors."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def rename(base: str, steward: str, approver: str, code: str, name: str) -> int:
    """Rename ``code`` through the node at ``base`` (create, submit, approve, publish); the
    release number."""
    created = data(graphql(base, f'''mutation {{ createChangeSet(input: {{ title: "đổi tên",
        legalBasis: {{ number: "9/2026", date: "2026-06-01", issuer: "UBND" }},
        effectiveDate: "2026-07-01",
        operations: {{ op: "rename", list: "admin-units", code: "{code}", name: "{name}" }} }})
        {{ ... on ChangeSetPayload {{ changeSet {{ number }} }} }} }}''', steward))
    number = created["createChangeSet"]["changeSet"]["number"]
    for document, who in (("submitChangeSet", steward), ("approveChangeSet", approver)):
        data(graphql(base, f"mutation {{ {document}(changeSetId: {number}) "
                           "{ __typename } }", who))
    published = data(graphql(base, f"""mutation {{ publishChangeSet(changeSetId: {number})
        {{ ... on PublishPayload {{ release {{ number }} }} }} }}""", approver))
    return int(published["publishChangeSet"]["release"]["number"])


def pages_ahead(base: str) -> float:
    """The node's ``registry_sync_pages_ahead``: snapshot pages its build-ahead thread has
    queued or is building."""
    found = re.search(r"^registry_sync_pages_ahead ([0-9.e+-]+)$",
                      httpx.get(f"{base}/metrics", timeout=10).text, re.M)
    assert found, "no registry_sync_pages_ahead in /metrics"
    return float(found.group(1))


def reads(base: str) -> dict[str, float]:
    """The node's ``registry_read_database_total`` by target."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^registry_read_database_total\{target="(\w+)"\} ([0-9.e+]+)$', text, re.M)}
