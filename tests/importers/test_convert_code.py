"""``registry convert --code-column``: every status, the summary, JSON lines, standard output,
and the same bytes again at the same release."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from registry.cli import app
from registry.db import session_factory, transaction
from tests.conftest import Database
from tests.factories import hanoi, publish, unit

AU = "admin-units"
HEADER = "id,ma_xa,ma_huyen,ghi_chu"
# One row per answer the code mode gives (line numbers: the header is line 1).
ROWS = [
    "1,00001,,whole into a new ward",          # 2 exact
    "2,00013,001,whole into a kept code",      # 3 exact, its district agrees
    "3,00004,,kept its code and gave a part",  # 4 ambiguous kept_code_gave_parts
    "4,00037,,divided in two",                 # 5 ambiguous divided
    "5,00036,,retired with no successor",      # 6 not_found no_successor
    "6,99999,,never existed",                  # 7 not_found unknown_code
    "7,00001,002,district contradicts",        # 8 ambiguous code_conflicts
    "8,,,no code",                             # 9 not_found empty
    "9,1,,a spreadsheet dropped the zeros",    # 10 exact, padded to 00001
]
ADDED = ["old_code", "old_name", "new_code", "new_name", "new_province_code",
         "new_province_name", "status", "confidence", "candidates", "reason", "release"]


def ward(code: str, name: str, parent: str) -> dict[str, Any]:
    return {"code": code, "name": name, "type": "Phường", "parent": parent}


def reform(database: Database) -> int:
    """Hà Nội before 2025-07-01 and a reform on that day that gives every answer:

    00001 goes whole to the new 00040; 00013 whole to 00004, which keeps its code but gives
    a part to 00040; 00037 is split into 00038 (default) and 00039; 00036 is retired.
    Returns the reform's release.
    """
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
        publish(session, [unit("00036", "Phường Chương Dương", "Phường", "002")])
        return publish(session, [
            {"op": "merge", "list": AU, "sources": ["00004", "00013"],
             "target": ward("00004", "Phường Ba Đình", "001")},
            {"op": "merge", "list": AU,
             "sources": [{"code": "00004", "kind": "part", "share": 0.2, "default": False},
                         "00001"],
             "target": ward("00040", "Phường Ngọc Hà", "001")},
            {"op": "split", "list": AU, "source": "00037", "targets": [
                {**ward("00038", "Phường Hoàn Kiếm", "002"), "default": True},
                ward("00039", "Phường Cửa Nam", "002")]},
            {"op": "retire", "list": AU, "code": "00036"},
        ], "2025-07-01")


def run(database: Database, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"REGISTRY_DATABASE_URL": database.url,
                                                     "COLUMNS": "80"})


def sample(tmp_path: Path, rows: list[str] = ROWS, name: str = "records.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def convert(database: Database, source: Path, out: Path, *extra: str) -> Result:
    done = run(database, "convert", str(source), "--code-column", "ma_xa",
               "--district-column", "ma_huyen", "--to-date", "2025-07-01", "--out", str(out),
               *extra)
    assert done.exit_code == 0, done.output
    return done


def answers(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return [(r["old_code"], r["new_code"], r["status"], r["reason"], r["candidates"])
            for r in rows]


def test_every_status_of_the_code_mode_with_its_reason_and_candidates(
    database: Database, tmp_path: Path,
) -> None:
    release = reform(database)
    out = tmp_path / "converted.csv"
    convert(database, sample(tmp_path), out)
    rows = read_csv(out)
    assert list(rows[0]) == ["id", "ma_xa", "ma_huyen", "ghi_chu", *ADDED]
    assert answers(rows) == [
        ("00001", "00040", "exact", "", ""),
        ("00013", "00004", "exact", "", ""),
        ("00004", "00004", "ambiguous", "kept_code_gave_parts",
         "00004 Phường Ba Đình*; 00040 Phường Ngọc Hà"),
        ("00037", "00038", "ambiguous", "divided",
         "00038 Phường Hoàn Kiếm*; 00039 Phường Cửa Nam"),
        ("00036", "", "not_found", "no_successor", ""),
        ("", "", "not_found", "unknown_code", ""),
        ("00001", "00040", "ambiguous", "code_conflicts", "00040 Phường Ngọc Hà*"),
        ("", "", "not_found", "empty", ""),
        ("00001", "00040", "exact", "", ""),
    ]
    first = rows[0]
    assert first["old_name"] == "Phường Phúc Xá, Quận Ba Đình, Thành phố Hà Nội"
    assert (first["new_name"], first["new_province_code"], first["new_province_name"]) == (
        "Phường Ngọc Hà", "01", "Thành phố Hà Nội")
    assert [r["confidence"] for r in rows] == ["1.00", "1.00", "0.50", "0.50", "0.00", "0.00",
                                               "0.30", "0.00", "1.00"]
    assert {r["release"] for r in rows} == {str(release)}
    # The input's columns are as they were, the code a spreadsheet shortened included.
    assert [(r["id"], r["ma_xa"], r["ghi_chu"]) for r in rows] == [
        tuple(line.split(",")[i] for i in (0, 1, 3)) for line in ROWS]


def test_the_summary_counts_statuses_and_lists_the_rows_that_need_a_person(
    database: Database, tmp_path: Path,
) -> None:
    release = reform(database)
    done = convert(database, sample(tmp_path), tmp_path / "out.csv")
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"records.csv: 9 rows converted at release {release}, admin-units as each was before "
        "its latest change to 2025-07-01",
        "  exact 3, matched 0, ambiguous 3, not_found 3",
        "  6 rows need a person (ambiguous or not found):",
        "    line 4: 00004 — ambiguous (kept_code_gave_parts): 00004 Phường Ba Đình*; "
        "00040 Phường Ngọc Hà",
        "    line 5: 00037 — ambiguous (divided): 00038 Phường Hoàn Kiếm*; 00039 Phường Cửa Nam",
        "    line 6: 00036 — not_found (no_successor)",
        "    line 7: 99999 — not_found (unknown_code)",
        "    line 8: 00001 / 002 — ambiguous (code_conflicts): 00040 Phường Ngọc Hà*",
        "    line 9: (empty) — not_found (empty)",
        f"  written to {tmp_path / 'out.csv'}",
        f"  to get the same output again: --at-release {release} --to-date 2025-07-01",
    ]


def test_the_summary_lists_only_the_first_rows_that_need_a_person(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    rows = [f"{i},99999,,x" for i in range(25)] + ["25,00001,,x"]
    done = convert(database, sample(tmp_path, rows), tmp_path / "out.csv")
    lines = done.stderr.splitlines()
    assert lines[1] == "  exact 1, matched 0, ambiguous 0, not_found 25"
    assert lines[2] == "  25 rows need a person (ambiguous or not found); the first 20:"
    assert lines[3] == "    line 2: 99999 — not_found (unknown_code)"
    assert lines[22] == "    line 21: 99999 — not_found (unknown_code)"
    assert lines[23].startswith("  written to")


def test_without_out_the_table_goes_to_standard_output_and_the_summary_to_standard_error(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    done = run(database, "convert", str(sample(tmp_path, ROWS[:2])), "--code-column",
               "ma_xa", "--to-date", "2025-07-01")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == f"{HEADER},{','.join(ADDED)}"
    assert lines[1].startswith('1,00001,,whole into a new ward,00001,"Phường Phúc Xá, Quận Ba '
                               'Đình, Thành phố Hà Nội",00040,Phường Ngọc Hà,01,')
    assert len(lines) == 3
    assert "2 rows converted" in done.stderr and "no row needs a person" in done.stderr
    assert "written to" not in done.stderr


def test_a_default_target_date_is_today_and_the_source_date_the_day_before_the_reform(
    database: Database, tmp_path: Path,
) -> None:
    from registry.config import today

    release = reform(database)
    done = run(database, "convert", str(sample(tmp_path, ROWS[:1])), "--code-column",
               "ma_xa", "--out", str(tmp_path / "out.csv"))
    assert done.exit_code == 0, done.output
    assert f"as each was before its latest change to {today().isoformat()}" in done.stderr
    assert f"--at-release {release} --to-date {today().isoformat()}" in done.stderr


def test_json_lines_carry_the_input_the_answer_and_a_summary_last(
    database: Database, tmp_path: Path,
) -> None:
    release = reform(database)
    out = tmp_path / "out.jsonl"
    convert(database, sample(tmp_path), out)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(ROWS) + 1
    divided = lines[3]
    assert list(divided) == ["line", "input", "status", "confidence", "reason", "old", "new",
                             "alternatives", "release"]
    assert divided["line"] == 5 and divided["release"] == release
    assert divided["input"] == {"id": "4", "ma_xa": "00037", "ma_huyen": "",
                                "ghi_chu": "divided in two"}
    assert (divided["status"], divided["reason"], divided["confidence"]) == (
        "ambiguous", "divided", 0.5)
    assert divided["old"]["code"] == "00037"
    assert divided["old"]["district"] == {"code": "002", "name": "Quận Hoàn Kiếm"}
    assert [(n["code"], n["default"], n["kinds"]) for n in divided["new"]] == [
        ("00038", True, ["part"]), ("00039", False, ["part"])]
    assert lines[5]["old"] is None and lines[5]["reason"] == "unknown_code"
    summary = lines[-1]["summary"]
    assert summary["counts"] == {"exact": 3, "matched": 0, "ambiguous": 3, "not_found": 3}
    assert (summary["rows"], summary["needs_person"], summary["release"]) == (9, 6, release)
    assert (summary["from_date"], summary["to_date"], summary["list"]) == (
        None, "2025-07-01", AU)
    assert summary["first_needing_person"][0] == {
        "line": 4, "input": "00004", "status": "ambiguous", "reason": "kept_code_gave_parts",
        "candidates": "00004 Phường Ba Đình*; 00040 Phường Ngọc Hà"}
    # --json to standard output is the same document.
    stdout = run(database, "convert", str(sample(tmp_path)), "--code-column", "ma_xa",
                 "--district-column", "ma_huyen", "--to-date", "2025-07-01", "--json")
    assert stdout.exit_code == 0, stdout.output
    assert stdout.stdout == out.read_text(encoding="utf-8")


def test_converting_again_at_the_same_release_gives_the_same_bytes(
    database: Database, tmp_path: Path,
) -> None:
    release = reform(database)
    source = sample(tmp_path)
    dates = ["--from-date", "2025-06-30", "--to-date", "2025-09-01"]
    first = {fmt: tmp_path / f"first.{fmt}" for fmt in ("csv", "xlsx", "json")}
    for path in first.values():
        convert(database, source, path, *dates)
    # A later change set renames a new ward and merges the divided one's default part.
    with transaction(session_factory(database.engine)) as session:
        later = publish(session, [
            {"op": "rename", "list": AU, "code": "00040", "name": "Phường Ngọc Hà Mới"},
            {"op": "merge", "list": AU, "sources": ["00038", "00039"],
             "target": ward("00038", "Phường Hoàn Kiếm", "002")}], "2025-08-01")
    assert later > release
    for fmt, path in first.items():
        again = tmp_path / f"again.{fmt}"
        convert(database, source, again, *dates, "--at-release", str(release))
        assert again.read_bytes() == path.read_bytes(), fmt
        latest = tmp_path / f"latest.{fmt}"
        convert(database, source, latest, *dates)
        assert latest.read_bytes() != path.read_bytes(), fmt
    rows = read_csv(tmp_path / "latest.csv")
    assert rows[0]["new_name"] == "Phường Ngọc Hà Mới"
    assert (rows[3]["status"], rows[3]["new_code"]) == ("exact", "00038")
    assert {r["release"] for r in rows} == {str(later)}
    assert {r["release"] for r in read_csv(tmp_path / "again.csv")} == {str(release)}


def test_an_unknown_release_or_dates_in_the_wrong_order_are_one_line_errors(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    out = tmp_path / "out.csv"
    source = sample(tmp_path)
    for extra, message in (
        (["--at-release", "999"], "999"),
        (["--from-date", "2025-08-01", "--to-date", "2025-07-01"],
         "2025-08-01 is after the target date 2025-07-01"),
        (["--to-date", "1 July"], "--to-date: '1 July' is not a date (YYYY-MM-DD)"),
    ):
        done = run(database, "convert", str(source), "--code-column", "ma_xa", "--out",
                   str(out), *extra)
        assert done.exit_code == 1, done.output
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
        assert message in done.stderr
        assert not out.exists()
