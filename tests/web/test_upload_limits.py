"""Uploads and form posts are bounded while they stream in, against a real server.

A chunked body carries no ``Content-Length``: only counting the bytes as they arrive
refuses it. The refusal is the UI's page in the reader's language, and nothing is staged
or written.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from registry.limits import MIB
from registry.models import Operation
from registry.web.i18n import translator
from tests.web.conftest import AU, Client, Live

BOUNDARY = "registry-test-boundary"
CHUNK = 64 * 1024


class Multipart:
    """A multipart form with a file of ``size`` bytes, sent in chunks (no Content-Length)."""

    def __init__(self, csrf: str, size: int) -> None:
        self.csrf = csrf
        self.size = size
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n"
                f"{self.csrf}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; "
                f"name=\"layout\"\r\n\r\ncsv\r\n--{BOUNDARY}\r\nContent-Disposition: "
                f"form-data; name=\"list\"\r\n\r\n{AU}\r\n--{BOUNDARY}\r\n"
                "Content-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
                "Content-Type: text/csv\r\n\r\ncode,name,type\r\n").encode()
        yield head
        row = b"00001,Ph\xc6\xb0\xe1\xbb\x9dng A,Ph\xc6\xb0\xe1\xbb\x9dng\r\n"
        block = row * (CHUNK // len(row))
        while self.sent < self.size:
            self.sent += len(block)
            yield block
        yield f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    directory = tmp_path / "uploads"
    directory.mkdir()
    monkeypatch.setenv("REGISTRY_UPLOAD_DIR", str(directory))
    return directory


def _steward(live: Live, client_for: Callable[[str], Client]) -> tuple[Client, int]:
    client = client_for(live.url)
    assert client.login(live.token("steward-limits", "steward", [AU])).status_code == 303
    answer = client.post("/change-sets", {
        "title": "Giới hạn", "legal_number": "9/2025/KT", "legal_date": "2025-06-01",
        "legal_issuer": "Bộ Nội vụ", "legal_url": "", "effective_date": "2025-07-01"})
    assert answer.status_code == 303, answer.text
    return client, int(answer.headers["location"].rsplit("/", 1)[1])


def _operations(live: Live, cs_id: int) -> int:
    return int(live.read(lambda s: s.scalar(select(func.count(Operation.id))
                                            .where(Operation.change_set_id == cs_id))))


def test_a_chunked_50_mb_upload_is_refused_and_nothing_is_kept(
        own_live: Callable[..., Live], client_for: Callable[[str], Client],
        uploads: Path) -> None:
    live = own_live()
    client, cs_id = _steward(live, client_for)
    body = Multipart(client.csrf(f"/change-sets/{cs_id}"), 50 * MIB)
    answer = client.http.post(f"/change-sets/{cs_id}/upload?lang=en", content=iter(body),
                              headers={"content-type":
                                       f"multipart/form-data; boundary={BOUNDARY}"})
    assert answer.status_code == 413
    assert "content-length" not in {k.lower() for k in answer.request.headers}
    assert translator("en")("error.body_too_large", size="20 MB") in unescape(answer.text)
    assert body.sent < 50 * MIB  # the server stopped reading long before the end
    assert list(uploads.iterdir()) == []
    assert _operations(live, cs_id) == 0


def test_the_upload_limit_is_a_setting_and_smaller_uploads_pass(
        own_live: Callable[..., Live], client_for: Callable[[str], Client],
        uploads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MAX_UPLOAD_BYTES", str(64 * 1024))
    live = own_live()
    client, cs_id = _steward(live, client_for)
    refused = client.http.post(f"/change-sets/{cs_id}/upload",
                               content=iter(Multipart(client.csrf("/"), 128 * 1024)),
                               headers={"content-type":
                                        f"multipart/form-data; boundary={BOUNDARY}"})
    assert refused.status_code == 413
    assert translator("vi")("error.body_too_large", size="64 KB") in unescape(refused.text)
    # The same form with a declared length over the limit is refused unread.
    declared = client.post(f"/change-sets/{cs_id}/upload", {"layout": "csv", "list": AU},
                           files={"file": ("x.csv", b"x" * 70_000, "text/csv")})
    assert declared.status_code == 413
    assert list(uploads.iterdir()) == []
    small = client.post(f"/change-sets/{cs_id}/upload", {"layout": "csv", "list": AU},
                        files={"file": ("x.csv", "code,name,type,parent\n"
                                        "00073,Phường Mới,Phường,002\n".encode(),
                                        "text/csv")})
    assert small.status_code == 200 and "Phường Mới" in small.text
    assert _operations(live, cs_id) == 0


def test_graphql_refuses_a_chunked_body_over_a_real_socket(
        own_live: Callable[..., Live]) -> None:
    live = own_live()

    def body() -> Iterator[bytes]:
        yield b'{"query": "{ release { number } }", "padding": "'
        for _ in range(50 * MIB // CHUNK):
            yield b"x" * CHUNK
        yield b'"}'

    with httpx.Client(base_url=live.url, timeout=30) as client:
        answer = client.post("/graphql", content=body(),
                             headers={"content-type": "application/json"})
        assert answer.status_code == 413
        assert answer.json()["errors"][0]["extensions"]["code"] == "too_large"
        ok = client.post("/graphql", json={"query": "{ release { number } }"})
        assert ok.status_code == 200


def test_an_xlsx_bomb_and_a_formula_in_an_upload_are_named_on_the_page(
        own_live: Callable[..., Live], client_for: Callable[[str], Client],
        uploads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openpyxl import Workbook

    monkeypatch.setenv("REGISTRY_MAX_XLSX_UNCOMPRESSED_BYTES", "200000")
    live = own_live()
    client, cs_id = _steward(live, client_for)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(["code", "name", "type", "parent"])
    for _ in range(5000):
        sheet.append(["00073", "Phường " + "x" * 40, "Phường", "002"])
    buffer = io.BytesIO()
    book.save(buffer)
    refused = client.post(f"/change-sets/{cs_id}/upload?lang=en", {"layout": "csv", "list": AU},
                          files={"file": ("big.xlsx", buffer.getvalue(), "application/zip")})
    assert refused.status_code == 400
    assert translator("en")("rule.xlsx_size") in unescape(refused.text)
    csv = "code,name,type,parent\n00073,=HYPERLINK(\"http://x\"),Phường,002\n".encode()
    preview = client.post(f"/change-sets/{cs_id}/upload?lang=en",
                          {"layout": "csv", "list": AU},
                          files={"file": ("x.csv", csv, "text/csv")})
    assert preview.status_code == 200
    assert translator("en")("cs.note.formula", where="x.csv:2", column="name") in unescape(
        preview.text)
    assert _operations(live, cs_id) == 0
