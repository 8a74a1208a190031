"""The cost of refusing: every hostile request class of docs/security.md, against a real server.

Run: ``python bench/hostile_bench.py``. It

1. creates a scratch PostgreSQL database, loads the bundled data into it (as
   ``registry demo`` does) and adds a draft of :data:`DRAFT_OPS` operations, a reader
   token, a steward token (the draft's author) and two sync tokens;
2. starts the registry with one uvicorn worker, then, over HTTP as a client would: reads
   the feed's head, makes the first sync token's first ledger report (so that it owns the
   replica :data:`REPLICA`), and signs the steward in to the web UI (``GET /login`` for the
   CSRF token, ``POST /login``), keeping the session cookie and its CSRF token;
3. sends each hostile request class :data:`REPEAT` times, one at a time, and prints the
   median and worst time to the answer, with its status and error code (target: under
   100 ms each). A request is (method, path, body, headers): GraphQL queries and bodies;
   the sync feed's out-of-bound numbers, forged position token, oversized and foreign
   ledger reports and chunked body; the web UI's chunked 50 MB upload, XLSX bomb, huge id
   and forged CSRF token. Where the refusal's status is known (every class outside
   GraphQL) an answer with another one is flagged ``UNEXPECTED``;
4. measures ``/healthz`` at rest, then while 8 clients send every hostile class
   round-robin without pause, and prints both and their ratio (target: ``/healthz`` under
   100 ms).

The clock runs on the client, so a time includes the loopback round trip, the HTTP
parsing and sending the body (up to the point where the server refuses the rest): what a
client waits, not only what the server spends.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from email.message import Message
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, NamedTuple

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from pgtools import DEFAULT_SERVER, drop_pg, fresh_pg  # noqa: E402

from registry.db import make_engine, session_factory, transaction  # noqa: E402
from registry.importers.bundled_load import load_bundled_data  # noqa: E402
from registry.limits import MIB, load_limits  # noqa: E402
from registry.migrate import upgrade  # noqa: E402
from registry.services import change_sets, tokens  # noqa: E402
from registry.services.actors import SYSTEM, Actor  # noqa: E402
from registry.sync.protocol import MAX_SNAPSHOT_LIMIT, MAX_WAIT  # noqa: E402

TARGET_MS = 100.0
REPEAT = 7
DRAFT_OPS = 20_000
HOSTILE_CLIENTS = 8
HEALTH_SAMPLES = 60
STEWARD = "steward-bench"
REPLICA = "bench-replica"
HUGE = "99999999999999999999"
CHUNK = 64 * 1024
BOUNDARY = "hostile-bench-boundary"

Body = bytes | Callable[[], Iterator[bytes]]


class Request(NamedTuple):
    """One HTTP request; a callable body is sent chunked, without Content-Length."""

    method: str
    path: str
    body: Body = b""
    headers: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Setup:
    """What the hostile requests need: made in the database, then over HTTP."""

    draft: int
    reader: str
    steward: str
    sync_owner: str
    sync_other: str
    epoch: str = ""
    page_size: int = 0
    release: int = 0
    cookie: str = ""
    csrf: str = ""


def fan_out(levels: int, body: str = "code", on: str = "Entry") -> str:
    """Fragments that each spread the next one twice."""
    return "".join(f"fragment F{i} on {on} {{ {body} ...F{i + 1} ...F{i + 1} }}\n"
                   for i in range(levels)) + f"fragment F{levels} on {on} {{ {body} }}\n"


def _json(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


def _graphql(body: Body, token: str | None = None) -> Request:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return Request("POST", "/graphql", body, headers)


def _multipart(fields: dict[str, str], filename: str, content_type: str) -> tuple[bytes, bytes]:
    """The head of a multipart form ending where the file's bytes begin, and its tail."""
    parts = [f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
             f"{value}\r\n" for name, value in fields.items()]
    parts.append(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                 f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n")
    return "".join(parts).encode(), f"\r\n--{BOUNDARY}--\r\n".encode()


def xlsx_bomb(unpacked: int) -> bytes:
    """A zip of about ``unpacked / 1000`` bytes whose one sheet unpacks to ``unpacked``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
        block = b" " * MIB
        for _ in range(-(-unpacked // MIB)):
            sheet.write(block)
    return buffer.getvalue()


HISTORY = ("name validFrom validTo status type level parentCode shortName nameEn attributes "
           "recordedRelease supersededRelease changeSetId legalNumber title")


def graphql_classes(draft: int, reader: str) -> dict[str, tuple[Request, int | None]]:
    """The GraphQL classes; their statuses vary (200 with errors, 400, 413): not checked."""
    root = '{ administrativeUnit(code: "01") { ...F0 } }\n'
    chunk = b" " * CHUNK
    previews = " ".join(f"p{i}: preview" for i in range(13))
    bodies: dict[str, tuple[Body, bool]] = {
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
        "huge id": (_json(f'{{ changeSet(id: "{HUGE}") {{ number }} }}'), False),
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
    return {name: (_graphql(body, reader if authenticated else None), None)
            for name, (body, authenticated) in bodies.items()}


def sync_classes(setup: Setup) -> dict[str, tuple[Request, int | None]]:
    """The sync feed's classes (docs/sync-protocol.md), each with its refusal's status."""
    limits = load_limits()
    e, size, release = setup.epoch, setup.page_size, setup.release

    def report(token: str, data: Body) -> Request:
        return Request("POST", "/sync/v1/ledger", data, {
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})

    too_many = json.dumps({"name": REPLICA, "epoch": e, "seq": 1, "release": release,
                           "lists": [f"l{i}" for i in range(limits.sync_lists + 1)]}).encode()
    foreign = json.dumps({"name": REPLICA, "epoch": e, "seq": 1, "release": release}).encode()
    pad = b" " * CHUNK
    over = limits.graphql_body_bytes // CHUNK + 2
    return {
        "sync: huge after on a change page": (
            Request("GET", f"/sync/v1/changes/{e}/{size}/0?after={HUGE}"), 400),
        "sync: wait over its maximum": (
            Request("GET", f"/sync/v1/head?wait={MAX_WAIT + 1:g}&after=1"), 400),
        "sync: snapshot limit over its maximum": (
            Request("GET", f"/sync/v1/snapshot/{e}/{release}?limit={MAX_SNAPSHOT_LIMIT + 1}"),
            400),
        "sync: non-numeric page of the hashes": (
            Request("GET", f"/sync/v1/hashes/{e}/{size}/abc"), 400),
        "sync: forged snapshot after token": (
            Request("GET", f"/sync/v1/snapshot/{e}/{release}?after=Zm9yZ2Vk"), 400),
        f"sync: ledger report of {limits.sync_lists + 1} lists": (
            report(setup.sync_owner, too_many), 400),
        "sync: ledger report for another's replica": (report(setup.sync_other, foreign), 403),
        "sync: chunked ledger body over the limit": (report(setup.sync_owner, lambda: iter(
            [b'{"name": "x", "seq": 1, "release": 1, "last_error": "', *[pad] * over,
             b'"}'])), 413),
    }


def web_classes(setup: Setup) -> dict[str, tuple[Request, int | None]]:
    """The web UI's classes, by the signed-in steward, each with its refusal's status."""
    limits = load_limits()
    cookie = {"Cookie": setup.cookie}
    form = {**cookie, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    head, tail = _multipart({"csrf": setup.csrf, "layout": "csv", "list": "admin-units"},
                            "big.csv", "text/csv")
    row = "00001,Phường A,Phường\r\n".encode()
    block = row * (CHUNK // len(row))
    huge_upload = 50 * MIB
    bomb_head, bomb_tail = _multipart({"csrf": setup.csrf, "mode": "code"}, "bomb.xlsx",
                                      "application/vnd.openxmlformats-officedocument"
                                      ".spreadsheetml.sheet")
    bomb = bomb_head + xlsx_bomb(limits.xlsx_uncompressed_bytes + MIB) + bomb_tail
    forged = urllib.parse.urlencode({"csrf": "forged-" + setup.csrf[:8]}).encode()
    return {
        "web: chunked 50 MB upload to a change set": (Request(
            "POST", f"/change-sets/{setup.draft}/upload", lambda: iter(
                [head, b"code,name,type\r\n", *[block] * (huge_upload // len(block)), tail]),
            form), 413),
        f"web: XLSX bomb to /convert ({len(bomb) // 1024} KB)": (
            Request("POST", "/convert", bomb, form), 400),
        "web: huge change-set id": (Request("GET", f"/change-sets/{HUGE}", b"", cookie), 404),
        "web: POST with a forged CSRF token": (Request(
            "POST", f"/change-sets/{setup.draft}/submit", forged,
            {**cookie, "Content-Type": "application/x-www-form-urlencoded"}), 403),
    }


def hostile(setup: Setup) -> dict[str, tuple[Request, int | None]]:
    """name → (request, expected status or ``None``): one request of each class."""
    return {**graphql_classes(setup.draft, setup.reader), **sync_classes(setup),
            **web_classes(setup)}


class Answer(NamedTuple):
    status: int | None  # None: the server closed the connection without an answer
    headers: Message
    payload: bytes


def _exchange(port: int, request: Request) -> Answer:
    """Send ``request`` on a fresh connection and read the answer, even when the server
    answers before the body is sent and hangs up on the rest (a refused upload)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    try:
        lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 "Connection: close", *(f"{k}: {v}" for k, v in request.headers.items())]
        if callable(request.body):
            lines.append("Transfer-Encoding: chunked")
        elif request.body or request.method != "GET":
            lines.append(f"Content-Length: {len(request.body)}")
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
            if callable(request.body):
                for part in request.body():
                    if part:
                        sock.sendall(b"%x\r\n%b\r\n" % (len(part), part))
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(request.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer may be waiting all the same
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            return Answer(response.status, response.msg, response.read())
        except (ConnectionError, http.client.HTTPException):
            return Answer(None, Message(), b"")
        finally:
            response.close()
    finally:
        sock.close()


def _send(port: int, request: Request) -> str:
    """The answer's status and its error's code (``-`` when it has none)."""
    answer = _exchange(port, request)
    if answer.status is None:
        return "closed"
    return f"{answer.status} {_code(answer)}"


def _code(answer: Answer) -> str:
    kind = answer.headers.get("content-type", "")
    if "html" in kind:
        return "page"  # the web UI's error page, in the reader's language
    try:
        found = json.loads(answer.payload)
    except ValueError:
        return "text" if answer.payload else "-"  # an answer that is not JSON
    if not isinstance(found, dict):
        return "json"
    if "error" in found:  # the sync feed's {error, message, field, rule}
        return str(found["error"]) + (f":{found['rule']}" if found.get("rule") else "")
    errors = found.get("errors") or []
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


def _start(url: str, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    # As ``registry serve`` runs a worker: JSON log lines (one per request) on stderr, which
    # go to ``log`` so that the table stays readable and the errors can be counted.
    cmd = [sys.executable, "-m", "uvicorn", "registry.app:create_served_app", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log",
           "--log-level", "warning"]
    env = {**os.environ, "REGISTRY_DATABASE_URL": url, "PYTHONPATH": str(HERE.parent)}
    process = subprocess.Popen(cmd, env=env, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            _healthz(port)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the registry did not start")


def _prepare(url: str) -> Setup:
    """Load the bundled data; add a large draft and the tokens."""
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    load_bundled_data(engine)
    print(f"loaded the bundled data in {time.perf_counter() - started:.0f} s")

    steward = Actor(STEWARD, "steward", frozenset({"admin-units"}))
    with transaction(session_factory(engine)) as session:
        # A draft as large as a reorganisation may be: 20,000 new communes (codes
        # 80000-99999) in Hà Nội.
        codes = [f"{80_000 + i:05d}" for i in range(DRAFT_OPS)]
        draft = change_sets.create_change_set(
            session, steward, "bench: a large draft", change_sets.parse_legal_basis(
                {"number": "1/2026/NQ", "date": "2026-01-01", "issuer": "bench"},
                "legalBasis"), date(2026, 7, 1))
        change_sets.add_operations(session, steward, draft.id, [
            {"op": "create", "list": "admin-units", "code": code, "name": f"Xã Thử {i}",
             "type": "Xã", "parent": "01"}
            for i, code in enumerate(codes)])
        setup = Setup(
            draft=draft.id,
            reader=tokens.create_token(session, SYSTEM, "reader-bench", "reader").secret,
            steward=tokens.create_token(session, SYSTEM, STEWARD, "steward",
                                        ["admin-units"]).secret,
            sync_owner=tokens.create_token(session, SYSTEM, "sync-bench-a", "sync").secret,
            sync_other=tokens.create_token(session, SYSTEM, "sync-bench-b", "sync").secret)
    engine.dispose()
    print(f"a draft of {len(codes)} operations: change set {setup.draft}")
    return setup


def _expect(answer: Answer, status: int, what: str) -> Answer:
    if answer.status != status:
        raise SystemExit(f"{what}: expected {status}, got {answer.status} "
                         f"{answer.payload[:300]!r}")
    return answer


def _cookie(answer: Answer) -> str:
    """The session cookie the answer sets (name=value)."""
    for header in answer.headers.get_all("set-cookie") or []:
        return str(header).split(";", 1)[0]
    raise SystemExit("the web UI set no session cookie")


def _csrf(answer: Answer) -> str:
    """The CSRF token a page of ours embeds for its session."""
    page = answer.payload.decode("utf-8")
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def _connect(port: int, setup: Setup) -> Setup:
    """Over HTTP: the feed's head, the first sync token's first report, the steward's
    web session and its CSRF token."""
    head = json.loads(_expect(_exchange(port, Request("GET", "/sync/v1/head")), 200,
                              "GET /sync/v1/head").payload)
    _expect(_exchange(port, Request("POST", "/sync/v1/ledger", json.dumps(
        {"name": REPLICA, "epoch": head["epoch"], "seq": head["seq"],
         "release": head["release"]}).encode(), {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {setup.sync_owner}"})), 200, "the first ledger report")
    login = _expect(_exchange(port, Request("GET", "/login")), 200, "GET /login")
    signed_in = _expect(_exchange(port, Request("POST", "/login", urllib.parse.urlencode(
        {"csrf": _csrf(login), "token": setup.steward, "next": "/"}).encode(), {
        "Cookie": _cookie(login), "Content-Type": "application/x-www-form-urlencoded"})),
        303, "POST /login")
    cookie = _cookie(signed_in)
    home = _expect(_exchange(port, Request("GET", "/", b"", {"Cookie": cookie})), 200, "GET /")
    return replace(setup, epoch=head["epoch"], page_size=head["page_size"],
                   release=head["release"], cookie=cookie, csrf=_csrf(home))


def _refusals(port: int, classes: dict[str, tuple[Request, int | None]]) -> list[float]:
    print(f"\n{'hostile request':44} {'answer':>26} {'median ms':>10} {'worst ms':>9}")
    medians = []
    for name, (request, expected) in classes.items():
        times, statuses = [], set()
        for _ in range(REPEAT):
            started = time.perf_counter()
            statuses.add(_send(port, request))
            times.append((time.perf_counter() - started) * 1000)
        median = statistics.median(times)
        medians.append(median)
        flags = "" if median < TARGET_MS else "  OVER TARGET"
        codes = {s.split(" ", 1)[0] for s in statuses}
        if (expected is not None and codes != {str(expected)}) or "500" in codes:
            flags += f"  UNEXPECTED (want {expected or 'no 500'})"
        print(f"{name:44} {'/'.join(sorted(statuses)):>26} {median:10.1f} "
              f"{max(times):9.1f}{flags}")
    return medians


def _preview_cache(port: int, draft: int, token: str) -> None:
    request = _graphql(_json(f'{{ changeSet(id: "{draft}") {{ preview }} }}'), token)
    first = time.perf_counter()
    _send(port, request)
    planned = (time.perf_counter() - first) * 1000
    again = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        _send(port, request)
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


def _attack(port: int, setup: Setup, stop: Any, sent: Any) -> None:
    """:data:`HOSTILE_CLIENTS` threads sending every class round-robin until ``stop``."""
    requests = [request for request, _ in hostile(setup).values()]

    def client(offset: int) -> None:
        i = offset
        while not stop.is_set():
            _send(port, requests[i % len(requests)])
            with sent.get_lock():
                sent.value += 1
            i += 1

    threads = [threading.Thread(target=client, args=(k * len(requests) // HOSTILE_CLIENTS,))
               for k in range(HOSTILE_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _under_attack(port: int, setup: Setup) -> tuple[list[float], int]:
    # The attackers in a process of their own, so that the probe's clock does not wait
    # for their threads' turn at the interpreter lock.
    stop, sent = multiprocessing.Event(), multiprocessing.Value("i", 0)
    attackers = multiprocessing.Process(target=_attack, args=(port, setup, stop, sent))
    attackers.start()
    try:
        time.sleep(1.0)
        return _health(port, HEALTH_SAMPLES), int(sent.value)
    finally:
        stop.set()
        attackers.join()


def _errors(log: IO[bytes]) -> None:
    """How many lines the server logged, and the errors among them (a 500 is one)."""
    log.seek(0)
    lines = log.read().decode("utf-8", "replace").splitlines()
    errors = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            errors.append(line)  # not one of ours: a traceback or a crash
            continue
        if not isinstance(record, dict) or record.get("level") in ("error", "critical"):
            errors.append(line)
    print(f"\nserver log: {len(lines)} lines, {len(errors)} errors")
    for line in errors[:5]:
        print("  " + line[:300])


def _summary(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{label}: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms"


def _measure(url: str, log: IO[bytes]) -> None:
    """Prepare ``url``, serve it (the server's log to ``log``), measure and print."""
    process = None
    try:
        setup = _prepare(url)
        port = _free_port()
        process = _start(url, port, log)
        setup = _connect(port, setup)
        classes = hostile(setup)
        _send(port, _graphql(_json("{ release { number } }")))  # warm the imports up
        medians = _refusals(port, classes)
        _preview_cache(port, setup.draft, setup.reader)
        rest = _health(port, HEALTH_SAMPLES)
        attacked, sent = _under_attack(port, setup)
        print(f"\n/healthz, {HEALTH_SAMPLES} sequential GETs")
        print("  " + _summary("at rest", rest))
        print("  " + _summary(f"while {HOSTILE_CLIENTS} clients send hostile requests "
                              f"({sent} sent)", attacked))
        ratio = statistics.median(attacked) / statistics.median(rest)
        print(f"  ratio of medians (under attack / at rest): {ratio:.1f}")
        _errors(log)
        worst = max(medians)
        print(f"\nslowest refusal: {worst:.1f} ms (target < {TARGET_MS:.0f} ms); /healthz "
              f"under attack: median {statistics.median(attacked):.1f} ms "
              f"(target < {TARGET_MS:.0f} ms)")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    """Prepare, serve, measure, print; drop the database unless ``--keep``."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get("REGISTRY_BENCH_PG", DEFAULT_SERVER))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = fresh_pg(args.pg)
    try:
        with tempfile.TemporaryFile(prefix="hostile-bench-", suffix=".log") as log:
            _measure(url, log)
    finally:
        if args.keep:
            print(f"kept {url}")
        else:
            drop_pg(args.pg, url)

if __name__ == "__main__":
    main()
