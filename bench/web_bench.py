"""Web UI render time on the demo data. Run: ``python bench/web_bench.py [--db URL] [-n N]``.

Without ``--db`` it loads the bundled real data (63 → 34 provinces, 10,035 → 3,321
communes, the 2025 reform) into a fresh SQLite file first, as ``registry demo`` does.

Each request goes through the whole ASGI app in process (routing, session cookie, CSRF
token, database reads, Jinja2, security headers): server-side time, without a network or
a client in the figure. Beside each page, measured in the same run:

* **bare**: a minimal Starlette route answering "ok" (the framework's own cost);
* **floor**: a minimal Starlette route that makes the *same service reads* as the page and
  answers their sizes as plain text, with no template, session or page plumbing.

The page's target is a p50 under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from registry.app import create_app
from registry.config import Settings, today
from registry.db import make_engine, session_factory
from registry.services import code_lists, queries
from registry.web import reads

AU = "admin-units"
PAGES = [
    ("list, search \"ha noi\"", f"/lists/{AU}", "q=ha+noi", ("list", "ha noi")),
    ("list, search \"phuong\" (50 rows)", f"/lists/{AU}", "q=phuong", ("list", "phuong")),
    ("entry 00004: history + 9 predecessors", f"/lists/{AU}/00004", "", ("entry", "00004")),
    ("entry 79: history, lineage, 100 children", f"/lists/{AU}/79", "", ("entry", "79")),
]


def floor_app(url: str) -> Starlette:
    """The same reads as the pages, answered as plain text."""
    sessions = session_factory(make_engine(url))

    def bare(request: Request) -> Response:
        return PlainTextResponse("ok")

    def list_reads(request: Request) -> Response:
        with sessions() as session:
            day = today()
            code_lists.rules_for(code_lists.get_list(session, AU))
            page = queries.list_entries(session, AU, search=request.query_params["q"],
                                        as_of=day, first=50)
            parents = queries.get_entries(session, AU, sorted({e.parent for e in page.items
                                                               if e.parent}), day)
            return PlainTextResponse(f"{len(page.items)} {len(parents)}")

    def entry_reads(request: Request) -> Response:
        code = request.path_params["code"]
        with sessions() as session:
            day = today()
            code_lists.rules_for(code_lists.get_list(session, AU))
            history = queries.history(session, AU, code)
            version = next((h for h in history if h.version.superseded_release is None
                            and h.version.valid_from <= day and (h.version.valid_to is None
                                                                 or day < h.version.valid_to)),
                           None)
            ancestors = queries.ancestors(session, AU, code, day)
            children, _ = reads.children(session, AU, code, day, 100)
            links = [*queries.lineage(session, AU, code, "predecessors"),
                     *queries.lineage(session, AU, code, "successors")]
            labels = reads.labels(session, AU, sorted({lk.from_code for lk in links}
                                                      | {lk.to_code for lk in links}))
            return PlainTextResponse(f"{len(history)} {version is not None} {len(ancestors)} "
                                     f"{len(children)} {len(links)} {len(labels)}")

    return Starlette(routes=[Route("/bare", bare), Route("/list", list_reads),
                             Route("/entry/{code}", entry_reads)])


async def _call(app: Any, path: str, query: str) -> tuple[int, int]:
    """One GET through the ASGI app; returns status and body size."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": query.encode(),
             "headers": [(b"host", b"bench"), (b"accept", b"text/html")],
             "client": ("127.0.0.1", 50000), "server": ("bench", 80)}
    status, size = 0, 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    return status, size


Target = tuple[Any, str, str]
Figures = tuple[float, float, int, float]


def measure(targets: list[Target], n: int) -> list[Figures]:
    """p50 and p95 in ms, the answer's size, and the p50 of CPU time, of each target.

    The targets take turns request by request, so that a busy machine slows them alike
    and the comparison stays fair. CPU time (all threads of this process, one request at
    a time) is what a request costs the server whatever else the machine is doing.
    """

    async def run() -> tuple[list[list[float]], list[list[float]], list[int]]:
        sizes = [0] * len(targets)
        for _ in range(max(5, n // 10)):
            for i, (app, path, query) in enumerate(targets):
                status, sizes[i] = await _call(app, path, query)
                assert status == 200, (path, status)
        times: list[list[float]] = [[] for _ in targets]
        cpu: list[list[float]] = [[] for _ in targets]
        for _ in range(n):
            for i, (app, path, query) in enumerate(targets):
                started, started_cpu = time.perf_counter(), time.process_time()
                await _call(app, path, query)
                times[i].append((time.perf_counter() - started) * 1000)
                cpu[i].append((time.process_time() - started_cpu) * 1000)
        return times, cpu, sizes

    times, cpu, sizes = asyncio.run(run())
    out = []
    for found, used, size in zip(times, cpu, sizes, strict=True):
        found.sort()
        out.append((statistics.median(found), found[int(len(found) * 0.95) - 1], size,
                    statistics.median(used)))
    return out


def load_demo(path: Path) -> str:
    """A fresh SQLite file with the bundled data, loaded as ``registry demo`` loads it."""
    from registry.importers.bundled_load import load_bundled_data
    from registry.migrate import upgrade

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    started = time.perf_counter()
    upgrade(engine)
    load_bundled_data(engine)
    engine.dispose()
    print(f"loaded the bundled data into {path.name} in {time.perf_counter() - started:.1f} s")
    return url


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="a database with the demo data (default: load it)")
    parser.add_argument("-n", type=int, default=200, help="requests per page")
    args = parser.parse_args()
    os.environ.setdefault("REGISTRY_SECRET_KEY", "bench-only-key")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or load_demo(Path(tmp) / "demo.db")
        web = create_app(Settings(database_url=url, anonymous_read=True))
        floor = floor_app(url)
        with session_factory(make_engine(url))() as session:
            counts = queries.count_entries(session, date(2025, 7, 1))
            release = queries.latest_release(session)
        print(f"database: {url.split('://')[0]}, release {release}, "
              f"admin units on 2025-07-01: {counts.get(AU, 0):,}")
        print(f"wall p50 / p95 in ms over {args.n} requests each, server-side (ASGI in "
              "process), and the p50 of CPU time per request\n")
        header = (f"{'page':<42}{'bare':>12}{'floor (same reads)':>20}{'web page':>16}"
                  f"{'HTML':>8}   {'CPU p50: floor':>14}{'page':>7}")
        print(header)
        print("-" * len(header))
        met = True
        for label, path, query, (kind, arg) in PAGES:
            floor_path, floor_query = (("/list", f"q={arg.replace(' ', '+')}") if kind == "list"
                                       else (f"/entry/{arg}", ""))
            bare, low, page = measure([(floor, "/bare", ""), (floor, floor_path, floor_query),
                                       (web, path, query)], args.n)
            met = met and page[0] < 50
            print(f"{label:<42}{_fmt(bare):>12}{_fmt(low):>20}{_fmt(page):>16}"
                  f"{page[2] / 1024:>5.0f} kB   {low[3]:>14.1f}{page[3]:>7.1f}")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"\n{os.cpu_count()} CPUs, load average {load:.1f} at the end "
              "(wall times grow with the load; CPU times much less)")
        print(f"target p50 < 50 ms for every page: {'met' if met else 'NOT met'}")


def _fmt(found: Figures) -> str:
    return f"{found[0]:.1f} / {found[1]:.1f}"


if __name__ == "__main__":
    main()
