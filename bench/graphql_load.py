"""A small asyncio HTTP/1.1 load generator: keep-alive connections, POST, fixed duration.

Run in its own process by graphql_bench.py, so that the client's work is not counted in
the server's process. Hand-written rather than httpx because a general client spends more
CPU per request than the server under test, on a machine with two cores.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                   path: str, body: bytes) -> tuple[int, bytes]:
    writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


async def _client(url: str, bodies: list[bytes], offset: int, deadline: float, warmup: float,
                  latencies: list[float], failures: list[str]) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    i = offset
    try:
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return
            status, payload = await _request(reader, writer, parts.netloc, parts.path,
                                             bodies[i % len(bodies)])
            elapsed = time.perf_counter() - started
            if status != 200 or b'"errors"' in payload:
                failures.append(payload[:300].decode("utf-8", "replace"))
            elif started >= warmup:
                latencies.append(elapsed)
            i += 1
    finally:
        writer.close()


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def drive(url: str, bodies: list[bytes], concurrency: int, duration: float,
                warmup: float = 1.0) -> dict[str, Any]:
    """Send ``bodies`` round-robin from ``concurrency`` connections for ``duration`` s."""
    now = time.perf_counter()
    latencies: list[float] = []
    failures: list[str] = []
    await asyncio.gather(*[
        _client(url, bodies, k * 7919, now + warmup + duration, now + warmup, latencies,
                failures)
        for k in range(concurrency)])
    return {"requests": len(latencies), "failures": len(failures),
            "first_failure": failures[0] if failures else None,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "rps": len(latencies) / duration}


def main() -> None:
    """``graphql_load.py URL CONCURRENCY DURATION`` with a JSON list of bodies on stdin."""
    url, concurrency, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    bodies = [json.dumps(b, ensure_ascii=False).encode() for b in json.load(sys.stdin)]
    print(json.dumps(asyncio.run(drive(url, bodies, concurrency, duration))))


if __name__ == "__main__":
    main()
