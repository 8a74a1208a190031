"""Import, then export, then import again: no change, in every layout and format."""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.exporters.export import export_list
from registry.importers.csv_generic import plan_csv_import
from registry.importers.tabular import read_table
from tests.exporters.test_export import _define_ethnic_groups
from tests.factories import d
from tests.importers.gso_files import csv_text
from tests.importers.test_gso_import import POST, PRE, plan_of, publish


def test_gso_csv_and_xlsx_round_trip_before_and_after_the_reform(session: Session) -> None:
    publish(session, plan_of(session, PRE.read_bytes(), "2025-01-01"))
    exported = export_list(session, "admin-units", "csv", d("2025-06-30")).data
    assert exported == PRE.read_bytes()  # the same file, byte for byte
    assert plan_of(session, exported, "2025-06-30").operations == []
    workbook = export_list(session, "admin-units", "xlsx", d("2025-06-30")).data
    assert plan_of(session, workbook, "2025-06-30", name="x.xlsx").operations == []

    publish(session, plan_of(session, POST.read_bytes(), "2025-07-01"))
    exported = export_list(session, "admin-units", "csv", d("2025-07-01")).data
    assert exported == POST.read_bytes()
    assert plan_of(session, exported, "2025-07-01").operations == []
    workbook = export_list(session, "admin-units", "xlsx", d("2025-07-01")).data
    assert plan_of(session, workbook, "2025-07-01", name="x.xlsx").operations == []
    # The pre-reform export still reads back to the pre-reform state on its date.
    old = export_list(session, "admin-units", "csv", d("2025-06-30")).data
    assert old == PRE.read_bytes()


def test_generic_csv_and_xlsx_round_trip(session: Session) -> None:
    _define_ethnic_groups(session)
    source = csv_text("code,name,other_names,population,official,since",
                      "1,Kinh,Việt; Kinh,82085826,true,2008-11-12",
                      "2,Tày,,1845492,,")
    plan = plan_csv_import(session, "test-groups", read_table(source.encode(), "g.csv"),
                           d("2025-01-01"))
    assert plan.counts() == {"create": 2}
    publish(session, plan)
    for fmt in ("csv", "xlsx"):
        data = export_list(session, "test-groups", fmt, d("2025-01-01")).data
        again = plan_csv_import(session, "test-groups", read_table(data, f"g.{fmt}"),
                                d("2025-01-01"))
        assert again.operations == [], fmt
        assert again.bad == []
        assert again.notes == ["ignored columns: level, status, valid_from, valid_to"]
