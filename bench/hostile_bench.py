"""The cost of refusing: every hostile GraphQL request class, against a real server.

Run: ``python bench/hostile_bench.py``. It

1. creates a scratch PostgreSQL database, loads the bundled data into it (as
   ``registry demo`` does) and adds a draft of :data:`DRAFT_OPS` operations, a reader token
   and a steward token;
2. starts the registry with one uvicorn worker;
3. sends each hostile request class :data:`REPEAT` times, one at a time, and prints the
   median and worst time to the answer, with its status (target: under 100 ms each);
4. measures ``/healthz`` at rest, then while 8 clients send hostile requests without
   pause, and prints both and their ratio (target: ``/healthz`` under 100 ms).

The clock runs on the client, so a time includes the loopback round trip and the HTTP
parsing: what a client waits, not only what the server spends.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from pgtools import DEFAULT_SERVER, drop_pg, fresh_pg  # noqa: E402

from registry.db import make_engine, session_factory, transaction  # noqa: E402
from registry.importers.bundled_load import load_bundled_data  # noqa: E402
from registry.migrate import upgrade  # noqa: E402
from registry.services import change_sets, tokens  # noqa: E402
from registry.services.actors import SYSTEM, Actor  # noqa: E402

TARGET_MS = 100.0
REPEAT = 7
DRAFT_OPS = 20_000
HOSTILE_CLIENTS = 8
HEALTH_SAMPLES = 60

Body = bytes | Callable[[], Iterator[bytes]]


def fan_out(levels: int, body: str = "code", on: str = "Entry") -> str:
    """Fragments that each spread the next one twice."""
    return "".join(f"fragment F{i} on {on} {{ {body} ...F{i + 1} ...F{i + 1} }}\n"
                   for i in range(levels)) + f"fragment F{levels} on {on} {{ {body} }}\n"


def _json(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


HISTORY = ("name validFrom validTo status type level parentCode shortName nameEn attributes "
           "recordedRelease supersededRelease changeSetId legalNumber title")


def hostile(draft: int) -> dict[str, tuple[Body, bool]]:
    """name → (body, needs the reader's token): one request of each class."""
    root = '{ administrativeUnit(code: "01") { ...F0 } }\n'
    chunk = b" " * 65_536
    previews = " ".join(f"p{i}: preview" for i in range(13))
    return {
        "fragment fan-out, 20 levels (<1 KB)": (_json(root + fan_out(20)), False),
        "fragment fan-out, 60 levels": (_json(root + fan_out(60)), False),
        "fan-out of aliases": (_json(root + fan_out(20, "a: code b: name")), False),
        "introspection fan-out": (_json("{ ...F0 }\n" + fan_out(
            20, "__schema { types { name fields { name } } }", "Query")), False),
        "first from a variable default": (_json(
            "query($f: Int = 100) { administrativeUnits(first: $f) { nodes { children("
            "first: $f) { nodes { children(first: $f) { nodes { code } } } } } } }"), False),
        "lists without first (history x 100)": (_json(
            f"{{ administrativeUnits(first: 100) {{ nodes {{ history {{ {HISTORY} }} }} }} }}"),
            False),
        "operations of the large draft, first 1001": (_json(
            f'{{ changeSet(id: "{draft}") {{ operations(first: 1001) {{ id }} }} }}'), False),
        "preview, anonymous": (_json(f'{{ changeSet(id: "{draft}") {{ preview }} }}'), False),
        "preview x 13 aliases": (_json(f'{{ changeSet(id: "{draft}") {{ {previews} }} }}'),
                                 True),
        "depth 15": (_json('{ administrativeUnit(code: "01") { '
                           + "parent { " * 15 + "code" + " }" * 15 + " } }"), False),
        "200 aliases": (_json("{ " + " ".join(f"a{i}: release {{ number }}"
                                              for i in range(200)) + " }"), False),
        "3,000 tokens": (_json("{ " + " ".join(["__typename"] * 3000) + " }"), False),
        "huge id": (_json('{ changeSet(id: "99999999999999999999") { number } }'), False),
        "NUL in a variable": (_json('query($c: String!) { administrativeUnit(code: $c) '
                                    '{ code } }', {"c": "a\u0000b"}), False),
        "lone surrogate in a variable": (b'{"query": "query($c: String!) { administrativeUnit('
                                         b'code: $c) { code } }", "variables": {"c": "\\ud800"}}',
                                         False),
        "invalid UTF-8 body": (b'\xff\xfe{"query": "{ release { number } }"}', False),
        "bare number body": (b"42", False),
        "JSON nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, False),
        "chunked body over the limit (2 MB)": (
            lambda: iter([b'{"query": "{ release { number } }', *[chunk] * 32, b'"}']), False),
    }


def _post(port: int, body: Body, token: str | None) -> str:
    """The answer's status and its first error's code (``-`` when it has none)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        if callable(body):  # no Content-Length: sent chunked
            connection.request("POST", "/graphql", body=body(), headers=headers,
                               encode_chunked=True)
        else:
            connection.request("POST", "/graphql", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return f"{response.status} {_code(payload)}"
    except (ConnectionError, http.client.HTTPException):
        return "413 closed"  # the server refused the rest of the body and hung up
    finally:
        connection.close()


def _code(payload: bytes) -> str:
    try:
        errors = json.loads(payload).get("errors") or []
    except (ValueError, AttributeError):
        return "text"  # strawberry's plain-text 400 for a body that is not a request
    if not errors:
        return "-"
    return str((errors[0].get("extensions") or {}).get("code") or errors[0]["message"][:20])


def _healthz(port: int) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=60) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(url: str, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "registry.app:create_app", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log",
           "--log-level", "warning"]
    env = {**os.environ, "REGISTRY_DATABASE_URL": url, "PYTHONPATH": str(HERE.parent)}
    process = subprocess.Popen(cmd, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            _healthz(port)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the registry did not start")


def _prepare(url: str) -> tuple[int, str]:
    """Load the bundled data; add a large draft and a reader token. → (draft, token)."""
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    load_bundled_data(engine)
    print(f"loaded the bundled data in {time.perf_counter() - started:.0f} s")

    steward = Actor("steward-bench", "steward", frozenset({"admin-units"}))
    with transaction(session_factory(engine)) as session:
        # The size the issue names: 20,000 new communes (codes 80000-99999) in Hà Nội.
        codes = [f"{80_000 + i:05d}" for i in range(DRAFT_OPS)]
        draft = change_sets.create_change_set(
            session, steward, "bench: a large draft", change_sets.parse_legal_basis(
                {"number": "1/2026/NQ", "date": "2026-01-01", "issuer": "bench"},
                "legalBasis"), date(2026, 7, 1))
        change_sets.add_operations(session, steward, draft.id, [
            {"op": "create", "list": "admin-units", "code": code, "name": f"Xã Thử {i}",
             "type": "Xã", "parent": "01"}
            for i, code in enumerate(codes)])
        secret = tokens.create_token(session, SYSTEM, "reader-bench", "reader").secret
        number = draft.id
    engine.dispose()
    print(f"a draft of {len(codes)} operations: change set {number}")
    return number, secret


def _refusals(port: int, classes: dict[str, tuple[Body, bool]], token: str) -> list[float]:
    print(f"\n{'hostile request':44} {'answer':>26} {'median ms':>10} {'worst ms':>9}")
    medians = []
    for name, (body, authenticated) in classes.items():
        times, statuses = [], set()
        for _ in range(REPEAT):
            started = time.perf_counter()
            statuses.add(_post(port, body, token if authenticated else None))
            times.append((time.perf_counter() - started) * 1000)
        median = statistics.median(times)
        medians.append(median)
        flag = "" if median < TARGET_MS else "  OVER TARGET"
        print(f"{name:44} {'/'.join(sorted(statuses)):>26} {median:10.1f} "
              f"{max(times):9.1f}{flag}")
    return medians


def _preview_cache(port: int, draft: int, token: str) -> None:
    body = _json(f'{{ changeSet(id: "{draft}") {{ preview }} }}')
    first = time.perf_counter()
    _post(port, body, token)
    planned = (time.perf_counter() - first) * 1000
    again = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        _post(port, body, token)
        again.append((time.perf_counter() - started) * 1000)
    print(f"\npreview of the {DRAFT_OPS}-op draft with a token: first (plans) {planned:.0f} ms,"
          f" then median {statistics.median(again):.0f} ms (the plan reused; the diff "
          "is still built and sent)")


def _health(port: int, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        times.append(_healthz(port))
        time.sleep(0.01)
    return times


def _attack(port: int, draft: int, token: str, stop: Any, sent: Any) -> None:
    """:data:`HOSTILE_CLIENTS` threads sending every class round-robin until ``stop``."""
    bodies = list(hostile(draft).values())

    def client(offset: int) -> None:
        i = offset
        while not stop.is_set():
            body, authenticated = bodies[i % len(bodies)]
            _post(port, body, token if authenticated else None)
            with sent.get_lock():
                sent.value += 1
            i += 1

    threads = [threading.Thread(target=client, args=(k * 3,)) for k in range(HOSTILE_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _under_attack(port: int, draft: int, token: str) -> tuple[list[float], int]:
    # The attackers in a process of their own, so that the probe's clock does not wait
    # for their threads' turn at the interpreter lock.
    stop, sent = multiprocessing.Event(), multiprocessing.Value("i", 0)
    attackers = multiprocessing.Process(target=_attack, args=(port, draft, token, stop, sent))
    attackers.start()
    try:
        time.sleep(1.0)
        return _health(port, HEALTH_SAMPLES), int(sent.value)
    finally:
        stop.set()
        attackers.join()


def _summary(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{label}: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms"


def main() -> None:
    """Prepare, serve, measure, print; drop the database unless ``--keep``."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get("REGISTRY_BENCH_PG", DEFAULT_SERVER))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = fresh_pg(args.pg)
    process = None
    try:
        draft, token = _prepare(url)
        port = _free_port()
        process = _start(url, port)
        classes = hostile(draft)
        _post(port, _json("{ release { number } }"), None)  # warm the imports up
        medians = _refusals(port, classes, token)
        _preview_cache(port, draft, token)
        rest = _health(port, HEALTH_SAMPLES)
        attacked, sent = _under_attack(port, draft, token)
        print(f"\n/healthz, {HEALTH_SAMPLES} sequential GETs")
        print("  " + _summary("at rest", rest))
        print("  " + _summary(f"while {HOSTILE_CLIENTS} clients send hostile requests "
                              f"({sent} sent)", attacked))
        ratio = statistics.median(attacked) / statistics.median(rest)
        print(f"  ratio of medians (under attack / at rest): {ratio:.1f}")
        worst = max(medians)
        print(f"\nslowest refusal: {worst:.1f} ms (target < {TARGET_MS:.0f} ms); /healthz "
              f"under attack: median {statistics.median(attacked):.1f} ms "
              f"(target < {TARGET_MS:.0f} ms)")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        if args.keep:
            print(f"kept {url}")
        else:
            drop_pg(args.pg, url)


if __name__ == "__main__":
    main()
