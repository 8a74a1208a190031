"""deploy/nginx/registry.conf in front of a real node: what is cached, what never is."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from registry.db import session_factory, transaction
from registry.services import tokens
from registry.services.actors import SYSTEM
from tests import processes
from tests.deploy.conftest import Edge
from tests.factories import hanoi

MakeEdge = Callable[..., Edge]
GZIP = {"Accept-Encoding": "gzip"}
PINNED = '''query($code: String!, $release: Int!) {
  administrativeUnit(code: $code, asOf: "2025-08-01", atRelease: $release) { code name } }'''
LATEST = '{ administrativeUnit(code: "001", asOf: "2025-08-01") { code name } }'


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def persisted(key: str, variables: dict[str, Any] | None = None,
              query: str | None = None) -> dict[str, str]:
    params = {"extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": key}}),
              "variables": json.dumps(variables or {})}
    if query is not None:
        params["query"] = query
    return params


def get(url: str, **kwargs: Any) -> httpx.Response:
    headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
    return httpx.get(url, headers=headers, timeout=30, **kwargs)


def registry(*args: str) -> subprocess.CompletedProcess[str]:
    return processes.run([sys.executable, "-m", "registry", *args], capture_output=True,
                          text=True, timeout=120)


def head(edge: Edge) -> dict[str, Any]:
    return get(f"{edge.centre.base}/sync/v1/head").json()  # type: ignore[no-any-return]


def test_immutable_pages_are_a_miss_then_a_hit_with_the_origins_bytes(
        make_edge: MakeEdge) -> None:
    edge = make_edge()
    release = edge.centre.run(hanoi)
    top = head(edge)
    assert top["seq"] > 5  # page 0 is complete
    snapshot = f"/sync/v1/snapshot/{top['epoch']}/{release}?limit=3"
    following = httpx.get(edge.centre.base + snapshot).content.split(b"\n", 1)[0]
    after = json.loads(following)["next"]
    assert after
    for path in (f"/sync/v1/changes/{top['epoch']}/5/0", snapshot,
                 f"{snapshot}&after={after}",
                 f"/sync/v1/checksums/{top['epoch']}/{release}"):
        origin = httpx.get(edge.centre.base + path, headers=GZIP)
        assert origin.headers["cache-control"] == "public, max-age=31536000, immutable"
        first = httpx.get(edge.base + path, headers=GZIP)
        second = httpx.get(edge.base + path, headers=GZIP)
        assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) \
            == ("MISS", "HIT"), path
        assert first.content == second.content == origin.content
        assert second.headers["content-encoding"] == "gzip"
        # Another spelling of gzip shares the copy; identity is a copy of its own.
        assert httpx.get(edge.base + path, headers={"Accept-Encoding": "gzip, deflate, br"}
                         ).headers["x-cache-status"] == "HIT"
        plain = httpx.get(edge.base + path, headers={"Accept-Encoding": "identity"})
        assert plain.headers["x-cache-status"] == "MISS" and "content-encoding" not in \
            plain.headers
    # The head, its page read with `after`, and long polls always reach the node.
    for path in ("/sync/v1/head", f"/sync/v1/changes/{top['epoch']}/5/0?after=2",
                 f"/sync/v1/changes/{top['epoch']}/5/{top['seq'] // 5}?after={top['seq']}"
                 "&wait=0.1"):
        before = edge.origin_count()
        for _ in range(2):
            answer = httpx.get(edge.base + path)
            assert answer.status_code == 200
            assert answer.headers.get("x-cache-status") in (None, "BYPASS")
        assert edge.origin_count(at_least=before + 2) == before + 2, path


def test_replicas_bootstrap_through_the_cache(make_edge: MakeEdge, tmp_path: Path) -> None:
    edge = make_edge()
    edge.centre.run(hanoi)
    edge.centre.publish([{"op": "rename", "list": "admin-units", "code": "001",
                          "name": "Quận Ba Đình Mới"}], effective="2025-07-01")
    immutable = ("/sync/v1/snapshot/", "/sync/v1/checksums/")
    counts = []
    for name in ("first", "second"):
        into = f"sqlite:///{tmp_path / name}.db"
        pulled = registry("sync", "pull", "--from", edge.base, "--into", into, "--quiet")
        assert pulled.returncode == 0, pulled.stderr
        verified = registry("sync", "verify", "--from", edge.base, "--into", into)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "identical to the centre" in verified.stdout
        counts.append(sum(edge.origin_count(p) for p in immutable))
    assert counts[0] >= 2  # a snapshot page and the checksums, at least
    assert counts[1] == counts[0]  # the second replica's pages all came from nginx
    statuses = [line for line in edge.nginx.log_lines() if "/sync/v1/snapshot/" in line]
    assert [s.split("cache=")[1].split()[0] for s in statuses][-1] == "HIT"


def test_forwarded_for_reaches_the_node(make_edge: MakeEdge) -> None:
    edge = make_edge()
    httpx.get(edge.base + "/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert edge.origin_count("/healthz", at_least=1) >= 1
    assert edge.origin_requests("/healthz")[-1]["client"] == "203.0.113.9"


def test_persisted_graphql_gets_are_cached_by_their_headers(make_edge: MakeEdge) -> None:
    edge = make_edge()
    release = edge.centre.run(hanoi)
    graphql = edge.base + "/graphql"
    registered = httpx.post(graphql, json={
        "query": PINNED, "variables": {"code": "001", "release": release},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(PINNED)}}})
    assert registered.status_code == 200, registered.text
    variables = {"code": "001", "release": release}
    first = get(graphql, params=persisted(sha(PINNED), variables))
    second = get(graphql, params=persisted(sha(PINNED), variables))
    assert first.json() == second.json() == {
        "data": {"administrativeUnit": {"code": "001", "name": "Quận Ba Đình"}}}
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) \
        == ("MISS", "HIT")
    # Revalidation answers 304 from the cache.
    again = get(graphql, params=persisted(sha(PINNED), variables),
                headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304

    assert get(graphql, params=persisted(sha(LATEST), query=LATEST)).status_code == 200
    latest = get(graphql, params=persisted(sha(LATEST)))  # a URL of its own: by hash alone
    assert latest.headers["cache-control"] == "public, max-age=5"
    assert latest.headers["x-registry-release"] == str(release)
    assert latest.headers["x-cache-status"] == "MISS"
    assert get(graphql, params=persisted(sha(LATEST))).headers["x-cache-status"] == "HIT"


def test_a_client_shown_a_newer_release_is_not_answered_from_the_cache(
        make_edge: MakeEdge) -> None:
    edge = make_edge()
    first_release = edge.centre.run(hanoi)
    graphql = edge.base + "/graphql"
    assert get(graphql, params=persisted(sha(LATEST), query=LATEST)).status_code == 200
    cached = get(graphql, params=persisted(sha(LATEST)))
    assert get(graphql, params=persisted(sha(LATEST))).headers["x-cache-status"] == "HIT"
    assert cached.headers["x-registry-release"] == str(first_release)
    newer = edge.centre.publish([{"op": "rename", "list": "admin-units", "code": "001",
                                  "name": "Quận Ba Đình Mới"}], effective="2025-07-15")
    # Within max-age the cache still answers the release before, to whoever shows nothing.
    stale = get(graphql, params=persisted(sha(LATEST)))
    assert stale.headers["x-cache-status"] == "HIT"
    assert stale.headers["x-registry-release"] == str(first_release)
    # A client that was shown the newer release says so, and gets it from a node.
    pinned = get(graphql, params=persisted(sha(LATEST)),
                 headers={"X-Registry-Min-Release": str(newer)})
    assert pinned.headers["x-cache-status"] == "BYPASS"
    assert pinned.headers["x-registry-release"] == str(newer)
    assert pinned.json()["data"]["administrativeUnit"]["name"] == "Quận Ba Đình Mới"


def test_a_token_is_never_answered_from_the_cache_when_reads_need_one(
        make_edge: MakeEdge) -> None:
    edge = make_edge(anonymous_read=False)
    release = edge.centre.run(hanoi)
    with transaction(session_factory(edge.centre.engine)) as session:
        secret = tokens.create_token(session, SYSTEM, "doc", "reader").secret
    auth = {"Authorization": f"Bearer {secret}"}
    epoch = get(f"{edge.centre.base}/sync/v1/head", headers=auth).json()["epoch"]
    before = edge.origin_count()
    for path in (f"/graphql?query={PINNED.replace(chr(10), ' ')}"
                 f"&variables={json.dumps({'code': '001', 'release': release})}",
                 f"/sync/v1/snapshot/{epoch}/{release}"):
        for _ in range(2):
            answer = get(edge.base + path, headers=auth)
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-cache-status"] == "BYPASS"
        refused = get(edge.base + path)
        assert refused.status_code == 401 and refused.headers["x-cache-status"] == "MISS"
    assert edge.origin_count(at_least=before + 6) == before + 6
    assert "private" in get(edge.base + "/graphql?query={codeLists{key}}",
                            headers=auth).headers["cache-control"]


def test_with_anonymous_reads_a_replicas_token_shares_the_cache(make_edge: MakeEdge) -> None:
    edge = make_edge()
    release = edge.centre.run(hanoi)
    with transaction(session_factory(edge.centre.engine)) as session:
        secret = tokens.create_token(session, SYSTEM, "tinh-01", "sync").secret
    epoch = head(edge)["epoch"]
    path = f"{edge.base}/sync/v1/snapshot/{epoch}/{release}"
    assert httpx.get(path).headers["x-cache-status"] == "MISS"
    assert httpx.get(path, headers={"Authorization": f"Bearer {secret}"}
                     ).headers["x-cache-status"] == "HIT"


def test_persisted_query_errors_through_nginx(make_edge: MakeEdge) -> None:
    edge = make_edge(env={"REGISTRY_MAX_GRAPHQL_PERSISTED": "2",
                          "REGISTRY_MAX_GRAPHQL_PERSISTED_BYTES": "300"})
    edge.centre.run(hanoi)
    graphql = edge.base + "/graphql"
    # Unknown: APQ's answer, never cached, so the hash works once registered.
    for _ in range(2):
        unknown = get(graphql, params=persisted(sha(LATEST)))
        assert unknown.status_code == 200
        assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert unknown.headers["x-cache-status"] == "MISS"
    mismatch = get(graphql, params=persisted("0" * 64, query=LATEST))
    assert mismatch.status_code == 400
    assert mismatch.json()["errors"][0]["extensions"]["field"] \
        == "extensions.persistedQuery.sha256Hash"
    big = "{ " + " ".join(f"a{i}: codeLists {{ key }}" for i in range(20)) + " }"
    oversize = get(graphql, params=persisted(sha(big), query=big))
    assert oversize.status_code == 400
    assert oversize.json()["errors"][0]["extensions"]["code"] == "too_large"
    assert get(graphql, params=persisted(sha(LATEST), query=LATEST)).status_code == 200
    assert get(graphql, params=persisted(sha(LATEST))).json()["data"]["administrativeUnit"]
    other = "{ codeLists { key } }"
    assert get(graphql, params=persisted(sha(other), query=other)).status_code == 200
    third = "{ releases(first: 1) { nodes { number } } }"
    full = get(graphql, params=persisted(sha(third), query=third))
    assert full.status_code == 507
    assert full.json()["errors"][0]["extensions"]["code"] == "persisted_query_store_full"
    assert full.headers["cache-control"] == "no-store"
