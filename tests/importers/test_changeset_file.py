"""Change-set files: every malformation gives a precise error and changes nothing."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import ValidationError, ValidationErrors
from registry.importers.changeset_file import import_changeset, read_changeset
from registry.models import ChangeSet, FeedRecord
from registry.services import graph_reads, queries
from registry.services.actors import SYSTEM
from tests.factories import d

GOOD = {
    "title": "Thành lập",
    "legal_basis": {"number": "1/2025/NQ", "date": "2025-01-02", "issuer": "Quốc hội"},
    "effective_date": "2025-01-01",
    "operations": [{"op": "create", "list": "admin-units", "code": "01",
                    "name": "Thành phố Hà Nội", "type": "Thành phố Trung ương"}],
}


def write(tmp_path: Path, content: object, encoding: str = "utf-8") -> Path:
    path = tmp_path / "changeset.json"
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    path.write_bytes(text.encode(encoding))
    return path


def variant(**changes: object) -> dict[str, object]:
    out = json.loads(json.dumps(GOOD))
    out.update(changes)
    return out


@pytest.mark.parametrize(("content", "field", "rule"), [
    ('{"title": "x", "operations": [', "changeset.json:1:", "json"),
    ([1, 2], "(top level)", "type"),
    (variant(effective_date="2025-02-30"), "effective_date", "date"),
    (variant(effective_date=None), "effective_date", "date"),
    (variant(title=""), "title", "required"),
    (variant(legal_basis={"number": "1", "date": "hôm qua", "issuer": "QH"}),
     "legal_basis.date", "date"),
    (variant(legal_basis={"date": "2025-01-01", "issuer": "QH"}), "legal_basis.number",
     "required"),
    (variant(operations=[]), "operations", "required"),
    (variant(operations=[{"op": "mrege", "list": "admin-units"}]), "operations[0].op", "enum"),
    (variant(operations=[{"op": "create", "list": "admin-units", "code": "01",
                          "type": "Tỉnh"}]), "operations[0].name", "required"),
    (variant(operations=[{"op": "create", "list": "admin-units", "code": 1, "name": "X",
                          "type": "Tỉnh"}]), "operations[0].code", "type"),
    (variant(operations=[{"op": "rename", "list": "admin-units", "code": "01", "name": "X",
                          "parent": "02"}]), "operations[0].parent", "unknown_field"),
    (variant(operations=[{"op": "split", "list": "admin-units", "source": "01", "targets": [
        {"code": "02", "name": "A", "type": "Tỉnh"}]}]), "operations[0].targets", "one_default"),
    (variant(operations=[{"op": "merge", "list": "admin-units", "sources": [
        {"code": "01", "kind": "most"}], "target": {}}]), "operations[0].sources[0].kind",
     "enum"),
    (variant(operations=[{"op": "transfer", "list": "admin-units", "from": "01", "to": "02",
                          "share": 1.5}]), "operations[0].share", "range"),
    (variant(extra=True), "extra", "unknown_field"),
])
def test_bad_files_name_the_field_and_the_rule(tmp_path: Path, content: object, field: str,
                                               rule: str) -> None:
    with pytest.raises(ValidationError) as err:
        read_changeset(write(tmp_path, content))
    assert err.value.field.startswith(field) and err.value.rule == rule


def test_a_file_that_fails_validation_writes_nothing(session: Session, tmp_path: Path) -> None:
    spec = read_changeset(write(tmp_path, variant(operations=[
        {"op": "create", "list": "admin-units", "code": "001", "name": "Quận X", "type": "Quận",
         "parent": "99"}])))
    before = (session.scalar(select(func.count(ChangeSet.id))),
              session.scalar(select(func.count(FeedRecord.seq))))
    with pytest.raises(ValidationErrors), session.begin_nested():
        import_changeset(session, SYSTEM, spec, publish=True)
    after = (session.scalar(select(func.count(ChangeSet.id))),
             session.scalar(select(func.count(FeedRecord.seq))))
    assert after == before


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_encodings_and_nfd_are_accepted(session: Session, tmp_path: Path, encoding: str) -> None:
    nfd = json.loads(json.dumps(GOOD))
    nfd["operations"][0]["name"] = unicodedata.normalize("NFD", "Thành phố Hà Nội")
    spec = read_changeset(write(tmp_path, nfd, encoding))
    _, release = import_changeset(session, SYSTEM, spec, publish=True)
    assert release is not None
    got = queries.get_entry(session, "admin-units", "01", d("2025-01-01"))
    assert got is not None and got.name == "Thành phố Hà Nội"


def test_documented_examples_import(session: Session) -> None:
    root = Path(__file__).resolve().parents[2] / "docs" / "examples"
    for name in ("hanoi-baseline.json", "hanoi-2025.json"):
        import_changeset(session, SYSTEM, read_changeset(root / name), publish=True)
    resolved = graph_reads.resolve(session, "admin-units", "00013", d("2025-07-01"))
    assert [s.entry.code for s in resolved.successors] == ["00004"]
