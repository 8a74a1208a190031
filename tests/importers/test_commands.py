"""The commands: ``import gso``, ``import csv`` and ``export``, on a real database."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from registry.cli import app
from registry.db import session_factory, transaction
from registry.models import ChangeSet
from tests.conftest import Database
from tests.importers.gso_files import DISTRICTS, csv_text
from tests.importers.test_gso_import import POST, PRE

BASIS = ["--decision", "124/2004/QĐ-TTg", "--decision-date", "2004-07-08", "--issuer",
         "Thủ tướng Chính phủ"]


def run(database: Database, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"REGISTRY_DATABASE_URL": database.url,
                                                     "COLUMNS": "120"})


def change_sets(database: Database) -> list[tuple[str, str]]:
    with transaction(session_factory(database.engine)) as session:
        return [(c.status, c.legal_number) for c in session.scalars(select(ChangeSet))]


def test_a_dry_run_prints_counts_per_operation_and_province_and_writes_nothing(
    database: Database,
) -> None:
    done = run(database, "import", "gso", str(PRE), "--effective", "2025-01-01", *BASIS,
               "--publish")
    assert done.exit_code == 0, done.output
    assert "published as release" in done.output and "create 115" in done.output
    dry = run(database, "import", "gso", str(POST), "--effective", "2025-07-01", "--dry-run",
              "--examples", "2")
    assert dry.exit_code == 0, dry.output
    text = dry.output
    assert "143 operations: rename 22, reclassify 7, move 38, retire 76" in text
    assert "12 Tỉnh Lai Châu" in text  # the per-province table
    assert "rename (first 2 of 22):" in text
    assert "03388 Phường Quyết Tiến → Phường Đoàn Kết" in text
    assert "move (first 2 of 38):" in text
    assert "03388 Phường Đoàn Kết: 105 Thành phố Lai Châu → 12 Tỉnh Lai Châu" in text
    assert "publishing would record: change 38, retire 76" in text
    assert change_sets(database) == [("published", "124/2004/QĐ-TTg")]


def test_a_dry_run_in_json_carries_the_summary_and_the_planners_diff(
    database: Database,
) -> None:
    dry = run(database, "import", "gso", str(PRE), "--effective", "2025-01-01", "--dry-run",
              "--json")
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.output)
    assert data["operations"] == {"create": 115} and data["total"] == 115
    assert data["by_group"] == {"12 Tỉnh Lai Châu": {"create": 115}}
    assert data["diff"]["summary"] == {"create": 115, "links": 0}
    assert len(data["examples"]["create"]) == 5


def test_bad_rows_are_listed_with_their_lines_and_nothing_is_imported(
    database: Database, tmp_path: Path,
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(csv_text(
        DISTRICTS,
        "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Phúc Xá,00001,Phường,",
        "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Trúc Bạch,0004X,Phường,",
        "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Quán Thánh,00013,Làng,"), "utf-8")
    dry = run(database, "import", "gso", str(path), "--effective", "2025-01-01", "--dry-run")
    assert dry.exit_code == 1
    assert "bad.csv:3: Mã PX '0004X' is not a code of 5 digits" in dry.output
    assert "bad.csv:4: Cấp is 'Làng'" in dry.output
    refused = run(database, "import", "gso", str(path), "--effective", "2025-01-01", *BASIS,
                  "--publish")
    assert refused.exit_code == 1
    assert "bad.csv:3" in refused.output and "nothing was written" in refused.output
    assert change_sets(database) == []
    skipped = run(database, "import", "gso", str(path), "--effective", "2025-01-01", *BASIS,
                  "--publish", "--skip-bad")
    assert skipped.exit_code == 0, skipped.output
    assert "create 3; 2 bad rows skipped" in skipped.output


def test_an_import_needs_its_legal_basis_and_makes_a_draft_without_publish(
    database: Database,
) -> None:
    missing = run(database, "import", "gso", str(PRE), "--effective", "2025-01-01")
    assert missing.exit_code == 1
    assert "give --decision, --decision-date, --issuer" in missing.output
    draft = run(database, "import", "gso", str(PRE), "--effective", "2025-01-01", *BASIS,
                "--actor", "steward-a")
    assert draft.exit_code == 0, draft.output
    assert "created as a draft" in draft.output
    assert change_sets(database) == [("draft", "124/2004/QĐ-TTg")]
    again = run(database, "import", "gso", str(PRE), "--effective", "2025-01-01", *BASIS,
                "--publish")
    assert again.exit_code == 0
    nothing = run(database, "import", "gso", str(PRE), "--effective", "2025-01-01", *BASIS,
                  "--publish")
    assert nothing.exit_code == 1 and "nothing to import" in nothing.output


def test_export_writes_the_file_and_says_what_it_holds(database: Database,
                                                      tmp_path: Path) -> None:
    assert run(database, "import", "gso", str(PRE), "--effective", "2025-01-01", *BASIS,
               "--publish").exit_code == 0
    out = tmp_path / "lai-chau.csv"
    done = run(database, "export", "admin-units", "--as-of", "2025-06-30", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert out.read_bytes() == PRE.read_bytes()
    assert "106 rows of admin-units on 2025-06-30" in done.output
    stdout = run(database, "export", "admin-units", "--as-of", "2025-06-30", "--format",
                 "json")
    assert json.loads(stdout.stdout)["list"]["key"] == "admin-units"
    wrong = run(database, "export", "admin-units", "--format", "pdf")
    assert wrong.exit_code == 1 and "--format must be one of: csv, json, xlsx" in wrong.output
    unknown = run(database, "export", "nothing", "--as-of", "2025-06-30")
    assert unknown.exit_code == 1 and "no code list 'nothing'" in unknown.output


def test_import_csv_maps_columns_and_publishes(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "agencies.csv"
    path.write_text(csv_text("Mã định danh,Tên cơ quan,Loại",
                             "000.00.00.G01,Bộ Công an,Bộ",
                             "000.00.00.G02,Bộ Công Thương,Bộ"), "utf-8")
    args = ["import", "csv", "agencies", str(path), "--effective", "2025-04-14",
            "--map", "code=Mã định danh", "--map", "name=Tên cơ quan", "--map", "type=Loại"]
    dry = run(database, *args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "2 operations: create 2" in dry.output
    done = run(database, *args, "--decision", "09/2025/QĐ-TTg", "--decision-date",
               "2025-04-14", "--issuer", "Thủ tướng Chính phủ", "--publish")
    assert done.exit_code == 0, done.output
    shown = run(database, "show", "agencies", "000.00.00.G02", "--as-of", "2025-05-01",
                "--json")
    assert json.loads(shown.stdout)["name"] == "Bộ Công Thương"
    with transaction(session_factory(database.engine)) as session:
        assert session.scalar(select(func.count(ChangeSet.id))) == 1


def test_formula_warnings_are_printed_by_imports_that_write_too(database: Database,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "agencies.csv"
    path.write_text(csv_text("code,name,type",
                             "000.00.00.G01,=HYPERLINK(\"x\"),Bộ",
                             "000.00.00.G02,@[/cmd],Bộ"), "utf-8")
    args = ["import", "csv", "agencies", str(path), "--effective", "2025-04-14"]
    basis = ["--decision", "09/2025/QĐ-TTg", "--decision-date", "2025-04-14", "--issuer",
             "Thủ tướng Chính phủ"]
    warnings = [f"warning: {path.name}:2: column 'name' holds '=HYPERLINK(\"x\")', which a "
                "spreadsheet would run as a formula; it is read as text",
                f"warning: {path.name}:3: column 'name' holds '@[/cmd]', which a "
                "spreadsheet would run as a formula; it is read as text"]
    for mode in (["--dry-run"], basis, [*basis, "--publish"]):
        done = run(database, *args, *mode)
        assert done.exit_code == 0, (mode, done.output)
        shown = " ".join(done.output.split())  # lines wrapped to the terminal, joined
        assert all(w in shown for w in warnings), (mode, done.output)
    # A write prints them on stderr; its standard output is the line saying what it did.
    assert all(w in " ".join(done.stderr.split()) for w in warnings)
    assert "published as release" in done.stdout and "warning" not in done.stdout
