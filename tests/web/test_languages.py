"""One language per page: every error a web user can see, on every form, in both languages.

Each error path of each form is walked with Vietnamese chosen and with English chosen; the
text of every alert on the answer must hold no word of the other language, and no
command-line option. The services word their errors in English for the CLI and the API;
the web UI translates them by (field, rule) and keeps only the values (codes, dates).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html import unescape
from html.parser import HTMLParser

import httpx
import pytest

from registry.web.i18n import translate
from registry.web.op_forms import KINDS
from tests.web.conftest import AU, Client, Live

VOID = {"br", "input", "img", "hr", "meta", "link", "wbr"}
# Words of an English sentence that Vietnamese never uses (after quoted values are removed).
ENGLISH = re.compile(r"\b(the|is|are|not|must|needs?|cannot|should|use|with|has|have|this|"
                     r"that|of|and|already|only|may|choose|file|column|missing|wrong)\b", re.I)
VIETNAMESE = re.compile(r"\b(không|của|phải|hãy|được|bị|cần|có|là|một|và|chưa|tệp|cột)\b",
                        re.I)
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|“[^”]*”|<code>.*?</code>")
# Accented letters Windows-1258 would read otherwise (Ì, Þ): not clearly Vietnamese.
LATIN_1 = "ma,code,name,type\n01,00043,Ìsola Þórshöfn,Phuong\n"
CHANGE_SET = {"title": "Ngôn ngữ", "legal_number": "8/2025/KT", "legal_date": "2025-06-01",
              "legal_issuer": "Ủy ban Thường vụ Quốc hội", "legal_url": "",
              "effective_date": "2025-07-01"}


class _Alerts(HTMLParser):
    """The text of every element that shows an error (role="alert" or an error class)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.depth = 0
        self.code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if self.depth:
            self.depth += 1
        elif attributes.get("role") == "alert" or {"flash-error", "field-error"} & set(classes):
            self.depth = 1
            self.found.append("")
        if tag == "code" and self.depth:
            self.code += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or not self.depth:
            return
        if tag == "code":
            self.code -= 1
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and not self.code:  # identifiers in <code> are not sentences
            self.found[-1] += data


def alerts(page: httpx.Response) -> list[str]:
    parser = _Alerts()
    parser.feed(page.text)
    return [" ".join(text.split()) for text in parser.found if text.strip()]


class Walk:
    """Collects the alerts of every answer, by the path that produced them."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}
        self.pages: dict[str, str] = {}  # whole pages whose every sentence is checked

    def check(self, what: str, page: httpx.Response) -> None:
        assert page.status_code < 500, (what, page.status_code)
        found = alerts(page)
        assert found, f"{what}: no error shown (status {page.status_code})"
        self.seen[what] = found


def _client(live: Live, client_for: Callable[[str], Client], lang: str) -> Client:
    client = client_for(live.url)
    client.http.cookies.set("lang", lang)
    return client


@pytest.fixture(params=["vi", "en"])
def lang(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.param)


def _other_province(live: Live, client_for: Callable[[str], Client], lang: str) -> Client:
    client = _client(live, client_for, lang)
    assert client.login(live.token(f"proposer-48-{lang}", "proposer", scope="48")
                        ).status_code == 303
    return client


def _walk(live: Live, client_for: Callable[[str], Client], lang: str) -> Walk:
    walk = Walk()
    anonymous = _client(live, client_for, lang)
    walk.check("login: unknown token", anonymous.post("/login", {"token": "nope", "next": "/"},
                                                      csrf_from="/login"))
    walk.check("list: bad cursor", anonymous.http.get(f"/lists/{AU}?after=not-a-cursor"))
    walk.check("list: bad date", anonymous.http.get(f"/lists/{AU}?as_of=2025-13-01"))
    walk.check("entry: unknown", anonymous.http.get(f"/lists/{AU}/99999"))
    walk.check("page: unknown", anonymous.http.get("/no-such-page"))
    walk.check("convert: no file", anonymous.post("/convert", {"mode": "code"},
                                                  csrf_from="/convert"))
    walk.check("convert: no column", anonymous.post(
        "/convert", {"mode": "code", "column": "ma_xa"}, csrf_from="/convert",
        files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")}))
    walk.check("convert: a Latin-1 file", anonymous.post(
        "/convert", {"mode": "code", "column": "ma"}, csrf_from="/convert",
        files={"file": ("latin1.csv", LATIN_1.encode("latin-1"), "text/csv")}))
    walk.check("convert: an old .xls", anonymous.post(
        "/convert", {"mode": "code", "column": "a"}, csrf_from="/convert",
        files={"file": ("a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64),
                        "application/vnd.ms-excel")}))

    steward = _client(live, client_for, lang)
    assert steward.login(live.token(f"steward-lang-{lang}", "steward", [AU])).status_code == 303
    walk.check("create: empty", steward.post("/change-sets", {}))
    walk.check("create: bad dates", steward.post("/change-sets", {
        **CHANGE_SET, "legal_date": "2025-13-01", "effective_date": "1/7/2025"}))
    created = steward.post("/change-sets", CHANGE_SET)
    assert created.status_code == 303
    cs = created.headers["location"].rsplit("/", 1)[1]
    detail = f"/change-sets/{cs}"
    walk.check("submit: no operation", steward.post(f"{detail}/submit", {"version": "1"},
                                                    csrf_from=detail))
    for kind in KINDS:
        walk.check(f"operation {kind}: empty", steward.post(
            f"{detail}/operations", {"kind": kind, "list": AU}, csrf_from=detail))
    walk.check("operation create: bad code", steward.post(f"{detail}/operations", {
        "kind": "create", "list": AU, "code": "12AB", "name": "Phường X", "type": "Phường",
        "parent": "002"}, csrf_from=detail))
    walk.check("operation create: code exists", steward.post(f"{detail}/operations", {
        "kind": "create", "list": AU, "code": "00043", "name": "Phường X", "type": "Phường",
        "parent": "002"}, csrf_from=detail))
    walk.check("operation retire: unknown", steward.post(f"{detail}/operations", {
        "kind": "retire", "list": AU, "code": "99999"}, csrf_from=detail))
    walk.check("operation: another list", steward.post(f"{detail}/operations", {
        "kind": "retire", "list": "agencies", "code": "000.00.00.G01"}, csrf_from=detail))
    walk.check("upload: no file", steward.post(f"{detail}/upload", {"layout": "csv",
                                                                   "list": AU},
                                               csrf_from=detail))
    walk.check("upload: not a statistics-office header", steward.post(
        f"{detail}/upload", {"layout": "gso"}, csrf_from=detail,
        files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}))
    walk.check("upload: no code column", steward.post(
        f"{detail}/upload", {"layout": "csv", "list": AU}, csrf_from=detail,
        files={"file": ("x.csv", b"ma,ten\n00043,X\n", "text/csv")}))
    walk.check("upload: bad rows", steward.post(
        f"{detail}/upload", {"layout": "csv", "list": AU}, csrf_from=detail,
        files={"file": ("x.csv", b"code,name,type\n12AB,X,Phuong\n,Y,Xa\n", "text/csv")}))
    walk.check("upload: a Latin-1 file", steward.post(
        f"{detail}/upload", {"layout": "csv", "list": AU}, csrf_from=detail,
        files={"file": ("units-latin1.csv", LATIN_1.encode("latin-1"), "text/csv")}))
    walk.check("upload: empty file", steward.post(
        f"{detail}/upload", {"layout": "csv", "list": AU}, csrf_from=detail,
        files={"file": ("x.csv", b"", "text/csv")}))
    preview = steward.post(
        f"{detail}/upload", {"layout": "csv", "list": AU}, csrf_from=detail,
        files={"file": ("x.csv", "code,name,type,note\n00043,Phường Hàng Bạc Mới,Phường,x\n"
                        .encode(), "text/csv")})
    assert preview.status_code == 200
    main = preview.text[preview.text.index("<main"):preview.text.index("</main>")]
    walk.pages["upload preview"] = re.sub(r"<code>.*?</code>|<[^>]+>", " ", main)
    for key in ("cs.scope.csv", "cs.note.ignored"):
        assert translate(lang, key, columns="note") in unescape(main)
    walk.check("operation rename: stale version", steward.post(f"{detail}/operations", {
        "kind": "rename", "list": AU, "code": "00043", "name": "Phường Hàng Bạc Mới",
        "version": "0"}, csrf_from=detail))

    assert steward.post(f"{detail}/operations", {
        "kind": "rename", "list": AU, "code": "00043", "name": "Phường Hàng Bạc Mới"},
        csrf_from=detail).status_code == 303
    walk.check("approve: by the author", steward.post(f"{detail}/approve", {"version": "2"},
                                                      csrf_from=detail))
    assert steward.post(f"{detail}/submit", {"version": "2"},
                        csrf_from=detail).status_code == 303
    approver = _client(live, client_for, lang)
    assert approver.login(live.token(f"approver-lang-{lang}", "approver")).status_code == 303
    walk.check("reject: no reason", approver.post(f"{detail}/reject",
                                                  {"comment": " ", "version": "3"},
                                                  csrf_from=detail))
    walk.check("approve: stale version", approver.post(f"{detail}/approve", {"version": "1"},
                                                       csrf_from=detail))
    walk.check("publish: not approved", approver.post(f"{detail}/publish", {"version": "3"},
                                                      csrf_from=detail))
    proposer = _client(live, client_for, lang)
    assert proposer.login(live.token(f"proposer-lang-{lang}", "proposer", scope="01")
                          ).status_code == 303
    made = proposer.post("/change-sets", CHANGE_SET)
    proposal = made.headers["location"].rsplit("/", 1)[1]
    page = f"/change-sets/{proposal}"
    walk.check("proposal: outside the province", proposer.post(f"{page}/operations", {
        "kind": "rename", "list": AU, "code": "31", "name": "Thành phố Mới"}, csrf_from=page))
    walk.check("comment: empty", proposer.post(f"{page}/comments", {"body": " "},
                                               csrf_from=page))
    assert proposer.post(f"{page}/operations", {
        "kind": "rename", "list": AU, "code": "00043", "name": "Phường Hàng Bạc Mới"},
        csrf_from=page).status_code == 303
    assert proposer.post(f"{page}/submit", {}, csrf_from=page).status_code == 303
    walk.check("request changes: no comment", approver.post(f"{page}/request_changes",
                                                            {"comment": ""}, csrf_from=page))
    walk.check("comment: by another province", _other_province(live, client_for, lang).post(
        f"{page}/comments", {"body": "xin chào"}, csrf_from="/"))
    admin = _client(live, client_for, lang)
    assert admin.login(live.token(f"admin-lang-{lang}", "admin")).status_code == 303
    hook = {"url": "http://127.0.0.1:9/hook", "events": "release.published"}
    for what, form in (("empty", {}), ("not http", {**hook, "url": "ftp://x.example/h"}),
                       ("no event", {"url": hook["url"]}),
                       ("unknown event", {**hook, "events": "release.publish"}),
                       ("unknown list", {**hook, "lists": "admin-unit"}),
                       ("bad scope", {**hook, "scope": "01;x"}),
                       ("scope outside the lists", {**hook, "lists": "agencies",
                                                    "scope": "01"})):
        walk.check(f"webhook: {what}", admin.post("/webhooks", form, csrf_from="/webhooks"))
    walk.check("webhook: unknown subscription", admin.http.get("/webhooks/999"))
    for what, form in (("bad name", {"name": "a b", "role": "reader"}),
                       ("unknown role", {"name": f"t-{lang}", "role": "emperor"}),
                       ("proposer without a scope", {"name": f"t-{lang}", "role": "proposer"}),
                       ("unknown unit", {"name": f"t-{lang}", "role": "proposer",
                                         "scope": "99"}),
                       ("name taken", {"name": f"admin-lang-{lang}", "role": "reader"})):
        walk.check(f"token: {what}", admin.post("/tokens", form, csrf_from="/tokens"))
    walk.check("token: revoke unknown", admin.post("/tokens/nobody/revoke", {},
                                                   csrf_from="/tokens"))
    walk.check("webhooks: not an administrator", steward.http.get("/webhooks"))
    return walk


def test_every_error_of_every_form_is_in_the_chosen_language(
        live: Live, client_for: Callable[[str], Client], lang: str) -> None:
    walk = _walk(live, client_for, lang)
    other = ENGLISH if lang == "vi" else VIETNAMESE
    wrong = {}
    for what, texts in walk.seen.items():
        for text in texts:
            bare = QUOTED.sub("", text)
            if other.search(bare) or "--" in text:
                wrong[what] = text
    for what, text in walk.pages.items():
        bare = QUOTED.sub("", " ".join(text.split()))
        if other.search(bare):
            wrong[what] = bare
    assert wrong == {}
    # A web user is never told to use a command-line option.
    upload = " ".join(walk.seen["upload: no code column"])
    assert "COLUMN" not in upload and "map" not in upload
    # A Latin-1 file: both code pages named and what to do, in the reader's words, and no
    # bare byte offset.
    latin = " ".join(walk.seen["upload: a Latin-1 file"])
    assert f"units-latin1.csv: {translate(lang, 'rule.code_page')}" in latin, latin
    offset = next(i for i, b in enumerate(LATIN_1.encode("latin-1")) if b > 0x7F)
    assert f": {offset}" not in latin, latin  # the byte where UTF-8 failed
    converted = unescape(" ".join(walk.seen["convert: a Latin-1 file"]))
    assert translate(lang, "convert.err.code_page", file="latin1.csv") in converted, converted
    for text in (latin, converted):
        assert "Windows-1258" in text and "Latin-1" in text
