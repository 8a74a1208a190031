"""The conversion page over plain HTTP: the result, every refusal in both languages, and
nothing kept on the server."""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from registry.models import ChangeSet, EntryVersion, Operation
from registry.services.conversion.rows import ADDED_COLUMNS
from registry.services.feed import read_head
from registry.web import convert_page
from registry.web.i18n import translate
from tests.factories import publish
from tests.web.conftest import AU, Client, Live

CODES = "stt;ma_xa;ghi_chu\n1;00013;a\n2;00004;b\n3;00037;c\n4;00007;d\n5;99999;e\n6;13;f\n"
REFORM: list[dict[str, Any]] = [
    {"op": "merge", "list": AU, "sources": ["00004", "00013"],
     "target": {"code": "00004", "name": "Phường Ba Đình", "type": "Phường", "parent": "001"}},
    {"op": "merge", "list": AU, "sources": [{"code": "00004", "kind": "part", "share": 0.2},
                                            "00001"],
     "target": {"code": "00002", "name": "Phường Ngọc Hà", "type": "Phường", "parent": "001"}},
    {"op": "split", "list": AU, "source": "00037", "targets": [
        {"code": "00038", "name": "Phường Hoàn Kiếm", "type": "Phường", "parent": "002",
         "default": True, "share": 0.6},
        {"code": "00039", "name": "Phường Cửa Nam Mới", "type": "Phường", "parent": "002",
         "share": 0.4}]},
    {"op": "retire", "list": AU, "code": "00007"},
]


def reformed(own_live: Callable[..., Live], anonymous_read: bool = True) -> Live:
    """A server of its own on the seed, with a small reform on 2025-07-01."""
    live = own_live(anonymous_read=anonymous_read)
    live.write(lambda s: publish(s, REFORM, "2025-07-01"))
    return live


def written(live: Live) -> tuple[int, ...]:
    """What a write would change: change sets, operations, versions and the feed head."""
    def count(session: Any) -> tuple[int, ...]:
        head = read_head(session)
        return (session.scalar(select(func.count(ChangeSet.id))),
                session.scalar(select(func.count(Operation.id))),
                session.scalar(select(func.count(EntryVersion.id))), head.release, head.seq)
    return live.read(count)  # type: ignore[no-any-return]


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The upload directory, empty; the test checks it stays empty."""
    directory = tmp_path / "uploads"
    directory.mkdir()
    monkeypatch.setenv("REGISTRY_UPLOAD_DIR", str(directory))
    yield directory
    assert list(directory.iterdir()) == []


def convert(client: Client, data: bytes | str, lang: str = "vi", filename: str = "don_vi.csv",
            **fields: str) -> Any:
    """POST a file to the page in ``lang``."""
    body = data.encode("utf-8") if isinstance(data, str) else data
    return client.http.post(f"/convert?lang={lang}", data={
        "csrf": client.csrf("/login"), "mode": "code", "column": "ma_xa", **fields},
        files={"file": (filename, body, "text/csv")})


def error_of(page: Any) -> str:
    found = re.search(r'id="convert-error">([^<]*)<', page.text)
    assert found, page.text
    return unescape(found.group(1))


def rows_of(data: bytes) -> list[list[str]]:
    """The rows of a result: UTF-8 with the BOM Excel needs, the input's delimiter."""
    assert data.startswith(b"\xef\xbb\xbf")
    text = data[3:].decode("utf-8")
    delimiter = ";" if ";" in text.split("\n", 1)[0] else ","
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_codes_come_back_converted(own_live: Callable[..., Live],
                                   client_for: Callable[[str], Client], uploads: Path) -> None:
    live = reformed(own_live)
    before = written(live)
    client = client_for(live.url)
    answer = convert(client, CODES, output="csv", to_date="2025-08-01")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        "attachment; filename=\"don_vi.converted.csv\"; "
        "filename*=UTF-8''don_vi.converted.csv")
    assert answer.headers["cache-control"] == "no-store"
    rows = rows_of(answer.content)
    assert rows[0] == ["stt", "ma_xa", "ghi_chu", *ADDED_COLUMNS]
    release = str(before[3])
    got = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [(r["stt"], r["ma_xa"], r["old_code"], r["new_code"], r["status"], r["reason"])
            for r in got] == [
        ("1", "00013", "00013", "00004", "exact", ""),
        ("2", "00004", "00004", "00004", "ambiguous", "kept_code_gave_parts"),
        ("3", "00037", "00037", "00038", "ambiguous", "divided"),
        ("4", "00007", "00007", "", "not_found", "no_successor"),
        ("5", "99999", "", "", "not_found", "unknown_code"),
        ("6", "13", "00013", "00004", "exact", "")]  # a spreadsheet ate the zeros
    assert {r["release"] for r in got} == {release}
    assert got[0]["old_name"] == "Phường Quán Thánh, Quận Ba Đình, Thành phố Hà Nội"
    assert (got[0]["new_name"], got[0]["new_province_code"], got[0]["confidence"]) == (
        "Phường Ba Đình", "01", "1.00")
    assert got[2]["candidates"] == "00038 Phường Hoàn Kiếm*; 00039 Phường Cửa Nam Mới"

    # The page carries the same file, and the summary.
    page = convert(client, CODES, lang="en", to_date="2025-08-01")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    carried = re.search(r'data-csv="([^"]+)"', page.text)
    assert carried and base64.b64decode(carried.group(1)) == answer.content
    assert 'data-filename="don_vi.converted.csv"' in page.text
    text = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))
    assert (f"6 rows, computed at release {release}: each unit as it was before its own "
            "latest change, to units of 2025-08-01.") in text
    counts = dict(re.findall(r'data-status="(\w+)">.*?</span> (\d+)</li>', page.text))
    assert counts == {"exact": "2", "matched": "0", "ambiguous": "2", "not_found": "2"}
    assert "4 rows need a person" in text
    person = page.text[page.text.index('id="person-rows"'):]
    assert re.findall(r'<td class="num">(\d+)</td>', person) == ["3", "4", "5", "6"]
    assert written(live) == before


def test_the_same_release_gives_the_same_file(own_live: Callable[..., Live],
                                              client_for: Callable[[str], Client],
                                              uploads: Path) -> None:
    live = reformed(own_live)
    client = client_for(live.url)
    first = convert(client, CODES, output="csv", from_date="2025-06-30", to_date="2025-09-01")
    release = rows_of(first.content)[1][-1]
    live.write(lambda s: publish(s, [
        {"op": "retire", "list": AU, "code": "00038"},
        {"op": "create", "list": AU, "code": "00041", "name": "Phường Sau", "type": "Phường",
         "parent": "002"}], "2025-09-01"))
    now = convert(client, CODES, output="csv", from_date="2025-06-30", to_date="2025-09-01")
    assert now.content != first.content
    again = convert(client, CODES, output="csv", from_date="2025-06-30", to_date="2025-09-01",
                    release=release)
    assert again.content == first.content


def test_an_xlsx_file_with_codes_stored_as_numbers(own_live: Callable[..., Live],
                                                   client_for: Callable[[str], Client],
                                                   uploads: Path) -> None:
    live = reformed(own_live)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Mã xã", "Tên"])
    sheet.append([13, "Quán Thánh"])
    sheet.append(["00037", "Phúc Tân"])
    buffer = io.BytesIO()
    book.save(buffer)
    answer = convert(client_for(live.url), buffer.getvalue(), filename="bang.xlsx",
                     column="ma xa", output="csv", to_date="2025-08-01")
    rows = rows_of(answer.content)
    assert rows[0][:2] == ["Mã xã", "Tên"]  # chosen ignoring case and accents
    assert [(r[0], r[2], r[4], r[8]) for r in rows[1:]] == [
        ("13", "00013", "00004", "exact"), ("00037", "00037", "00038", "ambiguous")]
    assert answer.headers["content-disposition"].startswith(
        'attachment; filename="bang.converted.csv"')


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_refusals_say_what_to_do_in_the_readers_language(
        live: Live, client_for: Callable[[str], Client], lang: str, uploads: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_for(live.url)
    before = written(live)

    def t(key: str, **values: Any) -> str:
        return translate(lang, key, **values)

    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"data": b"ma_xa\n\x81\x8d\x90\n"}, 400, t("convert.err.encoding", file="don_vi.csv")),
        ({"data": "stt;ten\n1;a\n"}, 400,
         t("convert.err.missing_column", column="ma_xa", columns="“stt”, “ten”")),
        ({"data": "stt;ten\n1;a\n", "column": ""}, 400,
         t("convert.err.choose_code", columns="“stt”, “ten”")),
        ({"data": "stt;ten\n1;a\n", "column": "", "mode": "address"}, 400,
         t("convert.err.choose_address", columns="“stt”, “ten”")),
        ({"data": b""}, 400, t("convert.err.empty", file="don_vi.csv")),
        ({"data": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)}, 400,
         t("convert.err.xls", file="don_vi.csv")),
        ({"data": "ma_xa;status\n00001;x\n"}, 400, t("convert.err.column_added", column="status")),
        ({"data": "ma_xa;ma_xa\n00001;x\n"}, 400, t("convert.err.column_twice", column="ma_xa")),
        ({"data": "ma_xa;ten\n00001;x;y\n"}, 400,
         t("convert.err.extra_cells", line=2, n=3, width=2)),
        ({"data": CODES, "release": "9999"}, 400,
         t("convert.err.release", n=9999, latest=before[3])),
        ({"data": CODES, "to_date": "2025-13-01"}, 400, t("convert.err.fields")),
        ({"data": CODES, "from_date": "2025-09-01", "to_date": "2025-08-01"}, 400,
         t("convert.err.fields")),
    ]
    for fields, status, message in cases:
        page = convert(client, lang=lang, **fields)
        assert (page.status_code, error_of(page)) == (status, message), fields
        assert '<html lang="' + lang + '">' in page.text
    # A field's own problem is shown beside it.
    bad_date = convert(client, CODES, lang=lang, to_date="2025-13-01")
    assert t("error.bad_date") in unescape(bad_date.text)
    # More rows than the page takes.
    monkeypatch.setattr(convert_page, "MAX_ROWS", 3)
    page = convert(client, CODES, lang=lang)
    assert (page.status_code, error_of(page)) == (
        400, t("convert.err.too_many_rows", rows=6, max=3))
    # Bodies over the upload limit: tests/web/test_upload_limits.py.
    assert written(live) == before


def test_no_file_and_no_csrf(live: Live, client_for: Callable[[str], Client],
                             uploads: Path) -> None:
    client = client_for(live.url)
    page = client.http.post("/convert?lang=en", data={"csrf": client.csrf("/convert"),
                                                      "mode": "code", "column": "ma_xa"})
    assert (page.status_code, error_of(page)) == (400, "Choose a CSV or XLSX file.")
    forged = client.http.post("/convert", data={"csrf": "forged", "column": "ma_xa"},
                              files={"file": ("a.csv", CODES.encode(), "text/csv")})
    assert forged.status_code == 403 and "ma_xa" not in forged.text


def test_the_column_chooser(live: Live, client_for: Callable[[str], Client],
                            uploads: Path) -> None:
    client = client_for(live.url)

    def columns(data: bytes, **fields: str) -> str:
        answer = client.http.post("/convert/columns?lang=en", data={
            "csrf": client.csrf("/convert"), **fields}, files={"file": ("a.csv", data,
                                                                         "text/csv")})
        assert answer.status_code == 200
        return unescape(answer.text)

    guessed = columns(b"STT;Ma xa;Dia chi\n1;00001;x\n", mode="code")
    assert re.findall(r'<option value="([^"]*)"( selected)?>', guessed) == [
        ("STT", ""), ("Ma xa", " selected"), ("Dia chi", "")]
    address = columns(b"STT;Ma xa;Dia chi\n1;00001;x\n", mode="address")
    assert '<option value="Dia chi" selected>' in address
    none = columns(b"a;b\n1;2\n", mode="code")
    assert '<option value="">— Choose a column —</option>' in none
    assert 'role="alert"' not in none
    missing = columns(b"a;b\n1;2\n", mode="code", column="ma_xa")
    assert "The file has no column “ma_xa”. Its columns are: “a”, “b”." in missing
    unreadable = columns(b"\x81\x8d\x90\n", mode="code")
    assert "Cannot read a.csv: its encoding is not UTF-8" in unreadable
    assert '<input id="f-column" name="column" type="text"' in unreadable


def test_the_page_follows_the_read_rule(own_live: Callable[..., Live],
                                        client_for: Callable[[str], Client],
                                        uploads: Path) -> None:
    live = reformed(own_live, anonymous_read=False)
    client = client_for(live.url)
    assert client.http.get("/convert").status_code == 303
    refused = convert(client, CODES, output="csv")
    assert refused.status_code == 303 and "/login" in refused.headers["location"]
    assert client.login(live.token("reader-conv", "reader")).status_code == 303
    assert convert(client, CODES, output="csv").status_code == 200


def test_the_navigation_links_the_page(live: Live, client_for: Callable[[str], Client]) -> None:
    home = client_for(live.url).http.get("/?lang=en")
    assert '<a href="/convert">Convert codes and addresses</a>' in home.text
    page = client_for(live.url).http.get("/convert")
    assert '<a href="/convert" aria-current="page">' in page.text
    assert '<script src="/static/convert.js" defer></script>' in page.text
    assert client_for(live.url).http.get("/static/convert.js").status_code == 200


def test_addresses_come_back_converted(own_live: Callable[..., Live],
                                       client_for: Callable[[str], Client],
                                       uploads: Path) -> None:
    live = reformed(own_live)
    table = ("ho_ten,dia_chi\n"
             "An,\"P. Quán Thánh, Q. Ba Đình, HN\"\n"
             "Bình,\"Phuong Phuc Tan, Hoan Kiem, Ha Noi\"\n"
             "Chi,\"Phường Cống Vị, Quận Ba Đình, Thành phố Hà Nội\"\n"
             "Dũng,Không rõ\n"
             "Em,\n")
    client = client_for(live.url)
    answer = convert(client, table, mode="address", column="", output="csv",
                     to_date="2025-08-01")
    rows = rows_of(answer.content)
    got = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [(r["ho_ten"], r["old_code"], r["new_code"], r["status"]) for r in got] == [
        ("An", "00013", "00004", "matched"), ("Bình", "00037", "00038", "ambiguous"),
        ("Chi", "00007", "", "not_found"), ("Dũng", "", "", "not_found"),
        ("Em", "", "", "not_found")]
    assert got[0]["reason"].startswith("abbreviation")
    assert got[4]["reason"] == "empty"
    page = convert(client, table, lang="en", mode="address", column="", to_date="2025-08-01")
    text = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))
    assert "4 rows need a person" in text
    assert "the old unit was divided among several new ones" in text
    assert "empty cell" in text


@pytest.mark.parametrize(("table", "fields", "options"), [
    (CODES, {}, ["--code-column", "ma_xa"]),
    ("ho_ten,dia_chi\nAn,\"P. Quán Thánh, Q. Ba Đình, HN\"\nBình,Phúc Tân Hoàn Kiếm\n",
     {"mode": "address", "column": "dia_chi"}, ["--address-column", "dia_chi"]),
])
def test_the_page_writes_what_the_command_writes(
        own_live: Callable[..., Live], client_for: Callable[[str], Client], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, uploads: Path, table: str, fields: dict[str, str],
        options: list[str]) -> None:
    from typer.testing import CliRunner

    from registry.cli import app

    live = reformed(own_live)
    page = convert(client_for(live.url), table, output="csv", to_date="2025-08-01", **fields)
    source = tmp_path / "don_vi.csv"
    source.write_text(table, "utf-8")
    monkeypatch.setenv("REGISTRY_DATABASE_URL",
                       live.engine.url.render_as_string(hide_password=False))
    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(app, ["convert", str(source), *options, "--to-date",
                                      "2025-08-01", "--bom", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert page.content == out.read_bytes()


def test_codes_in_a_file_do_not_grow_the_kept_gazetteer(own_live: Callable[..., Live],
                                                        client_for: Callable[[str], Client],
                                                        uploads: Path) -> None:
    live = reformed(own_live)
    client = client_for(live.url)
    assert convert(client, CODES, output="csv").status_code == 200
    namespace = str(live.engine.url)
    kept = [v.value for k, v in convert_page._GAZETTEERS._items.items() if k[0] == namespace]
    assert len(kept) == 1
    remembered = dict(kept[0]._cache)  # known codes only: bounded by the list
    assert remembered and set(remembered) <= set(kept[0].old)
    made_up = "ma_xa\n" + "".join(f"x{i}\n" for i in range(500))
    again = convert(client, made_up, output="csv")
    assert {r[-2] for r in rows_of(again.content)[1:]} == {"unknown_code"}
    assert kept[0]._cache == remembered
    # The address index is built once, on the kept snapshot.
    convert(client, "dia_chi\nPhường Quán Thánh, Ba Đình, Hà Nội\n", mode="address",
            column="dia_chi", output="csv")
    assert kept[0]._matcher is not None
