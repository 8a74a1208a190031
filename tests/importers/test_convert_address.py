"""``registry convert --address-column`` and ``--commune-column``: free text and separate
names through the matcher, every status, the old units a name fits listed as candidates."""

from __future__ import annotations

from pathlib import Path

from registry.db import session_factory, transaction
from registry.services.conversion import Gazetteer
from tests.conftest import Database
from tests.factories import publish, unit
from tests.importers.test_convert_code import read_csv, reform, run

# The address and names modes need the matcher; fail loudly, never skip, if it is missing.
assert callable(getattr(Gazetteer, "convert_address", None)), \
    "Gazetteer.convert_address is missing: the address matcher has not landed"
assert callable(getattr(Gazetteer, "convert_names", None)), \
    "Gazetteer.convert_names is missing: the address matcher has not landed"

ADDRESSES = [
    ("1", "Phường Quán Thánh, Quận Ba Đình, Thành phố Hà Nội"),  # exact → 00004
    ("2", "P. Phúc Xá, Q. Ba Đình, HN"),                          # matched → 00040
    ("3", "phuong phuc tan, quan hoan kiem, ha noi"),             # divided → ambiguous
    ("4", "Trúc Bạch, Ba Đình"),                                  # kept code → ambiguous
    ("5", "Phường Chương Dương, Quận Hoàn Kiếm"),                 # no successor
    ("6", "Xã Không Có, Hà Nội"),                                 # no such unit
    ("7", ""),                                                    # empty
]


def addresses(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / "addresses.csv"
    body = "".join(f'{i},"{text}"\n' for i, text in rows)
    path.write_text("id,dia_chi\n" + body, encoding="utf-8")
    return path


def convert(database: Database, source: Path, out: Path, *mode: str) -> str:
    done = run(database, "convert", str(source), *mode, "--to-date", "2025-07-01", "--out",
               str(out))
    assert done.exit_code == 0, done.output
    return done.stderr


def test_free_text_addresses_get_every_status(database: Database, tmp_path: Path) -> None:
    release = reform(database)
    out = tmp_path / "out.csv"
    summary = convert(database, addresses(tmp_path, ADDRESSES), out, "--address-column",
                      "dia_chi")
    rows = read_csv(out)
    assert [(r["id"], r["old_code"], r["new_code"], r["status"]) for r in rows] == [
        ("1", "00013", "00004", "exact"),
        ("2", "00001", "00040", "matched"),
        ("3", "00037", "00038", "ambiguous"),
        ("4", "00004", "00004", "ambiguous"),
        ("5", "00036", "", "not_found"),
        ("6", "", "", "not_found"),
        ("7", "", "", "not_found"),
    ]
    assert rows[0]["confidence"] == "1.00" and rows[0]["reason"] == ""
    assert 0.5 < float(rows[1]["confidence"]) < 1 and rows[1]["reason"]
    assert rows[1]["old_name"] == "Phường Phúc Xá, Quận Ba Đình, Thành phố Hà Nội"
    assert (rows[2]["reason"], rows[2]["candidates"]) == (
        "divided", "00038 Phường Hoàn Kiếm*; 00039 Phường Cửa Nam")
    assert (rows[3]["reason"], rows[3]["candidates"]) == (
        "kept_code_gave_parts", "00004 Phường Ba Đình*; 00040 Phường Ngọc Hà")
    assert [r["reason"] for r in rows[4:]] == ["no_successor", "unknown_name", "empty"]
    assert {r["release"] for r in rows} == {str(release)}
    lines = summary.splitlines()
    assert lines[1] == "  exact 1, matched 1, ambiguous 2, not_found 3"
    assert lines[2] == "  5 rows need a person (ambiguous or not found):"
    assert lines[3] == ("    line 4: phuong phuc tan, quan hoan kiem, ha noi — ambiguous "
                        "(divided): 00038 Phường Hoàn Kiếm*; 00039 Phường Cửa Nam")
    assert lines[7] == "    line 8: (empty) — not_found (empty)"


def test_a_name_two_units_share_lists_both_old_units_and_converts_neither(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    with transaction(session_factory(database.engine)) as session:
        publish(session, [unit("00041", "Phường Phúc Xá", "Phường", "002")], "2025-01-01")
    out = tmp_path / "out.csv"
    summary = convert(database, addresses(tmp_path, [("1", "Phúc Xá, Hà Nội"),
                                                     ("2", "P. Phúc Xá, Q. Hoàn Kiếm")]),
                      out, "--address-column", "dia_chi")
    same, narrowed = read_csv(out)
    assert (same["status"], same["reason"], same["old_code"], same["new_code"]) == (
        "ambiguous", "same_name", "", "")
    assert same["candidates"] == ("00001 Phường Phúc Xá, Quận Ba Đình, Thành phố Hà Nội; "
                                  "00041 Phường Phúc Xá, Quận Hoàn Kiếm, Thành phố Hà Nội")
    assert (narrowed["status"], narrowed["old_code"]) == ("matched", "00041")
    assert "  1 row needs a person (ambiguous or not found):" in summary.splitlines()


def test_names_in_separate_columns(database: Database, tmp_path: Path) -> None:
    reform(database)
    source = tmp_path / "names.csv"
    source.write_text("id,xa,huyen,tinh\n"
                      "1,Phúc Xá,Ba Đình,Hà Nội\n"
                      "2,Phuc Tan,Q. Hoàn Kiếm,HN\n"
                      "3,Quán Thánh,,\n"
                      "4,Không Có,Ba Đình,\n"
                      "5,,Ba Đình,Hà Nội\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    summary = convert(database, source, out, "--commune-column", "xa", "--district-column",
                      "huyen", "--province-column", "tinh")
    rows = read_csv(out)
    assert [(r["old_code"], r["new_code"], r["status"], r["reason"]) for r in rows] == [
        ("00001", "00040", "exact", ""),
        ("00037", "00038", "ambiguous", "divided"),
        ("00013", "00004", "matched", rows[2]["reason"]),
        ("", "", "not_found", "unknown_name"),
        ("", "", "not_found", "empty"),
    ]
    assert rows[2]["reason"]  # matched without the district and province: it says so
    assert "    line 3: Phuc Tan / Q. Hoàn Kiếm / HN — ambiguous (divided): " \
           "00038 Phường Hoàn Kiếm*; 00039 Phường Cửa Nam" in summary.splitlines()
