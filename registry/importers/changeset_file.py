"""Change-set files (docs/changeset-format.md) into draft or published change sets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.importers.decoding import decode_text
from registry.importers.json_input import load_json
from registry.services import change_sets
from registry.services.actors import Actor
from registry.services.change_sets import LegalBasis, parse_legal_basis
from registry.services.operations import parse_date, parse_operation
from registry.services.planner import Plan, plan_operations

TOP_LEVEL = ("title", "legal_basis", "effective_date", "operations")


@dataclass(frozen=True)
class ChangeSetFile:
    """A parsed, shape-checked change-set file."""

    title: str
    legal_basis: LegalBasis
    effective_date: date
    operations: list[dict[str, Any]]


def parse_changeset(raw: Any) -> ChangeSetFile:
    """Check a decoded JSON document against the file format."""
    if not isinstance(raw, dict):
        raise ValidationError("(top level)", "type", "a change-set file is a JSON object")
    extra = sorted(set(raw) - set(TOP_LEVEL))
    if extra:
        raise ValidationError(extra[0], "unknown_field",
                              f"is not a field of a change-set file ({', '.join(TOP_LEVEL)})")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValidationError("title", "required", "is required")
    basis = parse_legal_basis(raw.get("legal_basis"))
    effective = parse_date(raw.get("effective_date"), "effective_date")
    ops = raw.get("operations")
    if not isinstance(ops, list) or not ops:
        raise ValidationError("operations", "required", "must be a non-empty list")
    parsed = [parse_operation(op, f"operations[{i}]") for i, op in enumerate(ops)]
    return ChangeSetFile(title.strip(), basis, effective, parsed)


def read_changeset(path: Path) -> ChangeSetFile:
    """Read and check a change-set file; every fault names its place."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(str(path), "file", exc.strerror or str(exc)) from None
    return parse_changeset(load_json(decode_text(data, str(path)), path.name))


def dry_run(session: Session, spec: ChangeSetFile) -> Plan:
    """The diff the file would make now, changing nothing."""
    return plan_operations(session, spec.effective_date, spec.operations)


def import_changeset(session: Session, actor: Actor, spec: ChangeSetFile,
                     publish: bool = False) -> tuple[int, int | None]:
    """Create the change set (and publish it at once if asked); return (id, release)."""
    change_set = change_sets.create_change_set(session, actor, spec.title, spec.legal_basis,
                                               spec.effective_date)
    change_sets.add_operations(session, actor, change_set.id, spec.operations)
    release = change_sets.publish_direct(session, actor, change_set.id) if publish else None
    return change_set.id, release
