"""What every file import shares: the operations it makes, their summary, and committing.

An import reads a file, compares it with the registry and produces an :class:`ImportPlan`:
plain operations (docs/changeset-format.md) plus what a reviewer needs to read them, the
group (province) and a one-line description of each. A dry run plans them with the same
planner that publishing uses, so it shows exactly the diff that publishing makes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from registry.errors import ValidationError, ValidationErrors
from registry.services import change_sets
from registry.services.actors import Actor
from registry.services.change_sets import LegalBasis
from registry.services.operations import parse_operation
from registry.services.planner import Plan, plan_operations
from registry.services.queries import EntryView

OP_ORDER = ("create", "rename", "reclassify", "move", "update", "retire")


@dataclass(frozen=True)
class BadLine:
    """A bad row: its line, the rule it breaks, why, and codes it seems to name."""

    line: int
    rule: str
    reason: str
    codes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"

    def as_error(self, source: str) -> ValidationError:
        """The row as a validation error naming the file and line."""
        return ValidationError(f"{source}:{self.line}", self.rule, self.reason)


@dataclass
class ImportPlan:
    """Operations an import makes, each with a group label and a description."""

    list_key: str
    source: str
    effective_date: date
    rows: int
    scope: str
    operations: list[dict[str, Any]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    skipped_bad: bool = False
    notes: list[str] = field(default_factory=list)

    def add(self, op: dict[str, Any], group: str, description: str) -> None:
        """Append one operation, normalised and shape-checked like any other."""
        where = f"operations[{len(self.operations)}]"
        self.operations.append(parse_operation(op, where))
        self.groups.append(group)
        self.descriptions.append(description)

    def counts(self) -> dict[str, int]:
        """Operations per kind, in a stable order."""
        found = Counter(op["op"] for op in self.operations)
        return {name: found[name] for name in (*OP_ORDER, *sorted(found)) if found.get(name)}

    def by_group(self) -> dict[str, dict[str, int]]:
        """Operations per group and kind, groups in order."""
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for op, group in zip(self.operations, self.groups, strict=True):
            out[group][op["op"]] = out[group].get(op["op"], 0) + 1
        return dict(sorted(out.items()))

    def examples(self, limit: int) -> dict[str, list[str]]:
        """The first ``limit`` descriptions of each kind of operation."""
        out: dict[str, list[str]] = {}
        for op, text in zip(self.operations, self.descriptions, strict=True):
            seen = out.setdefault(op["op"], [])
            if len(seen) < limit:
                seen.append(text)
        return {name: out[name] for name in (*OP_ORDER, *sorted(out)) if name in out}

    def summary(self, limit: int = 5) -> dict[str, Any]:
        """JSON-ready summary: counts, per group, examples, bad rows and notes."""
        return {
            "list": self.list_key, "file": self.source, "rows": self.rows, "scope": self.scope,
            "effective_date": self.effective_date.isoformat(),
            "operations": self.counts(), "total": len(self.operations),
            "by_group": self.by_group(), "examples": self.examples(limit),
            "bad_rows": [{"line": b.line, "rule": b.rule, "reason": b.reason}
                         for b in self.bad],
            "skipped_bad_rows": self.skipped_bad, "notes": self.notes,
        }


def refuse_bad_rows(plan: ImportPlan, skip_bad: bool) -> None:
    """Nothing is imported from a file with bad rows, unless the caller skips them."""
    if plan.bad and not skip_bad:
        raise ValidationErrors([b.as_error(plan.source) for b in plan.bad])
    plan.skipped_bad = bool(plan.bad)


def dry_run(session: Session, plan: ImportPlan) -> Plan:
    """The diff publishing would make now: the planner's, as for any change set."""
    return plan_operations(session, plan.effective_date, plan.operations)


def commit_import(session: Session, actor: Actor, plan: ImportPlan, title: str,
                  legal_basis: LegalBasis, publish: bool) -> tuple[int, int | None]:
    """Record the operations as a change set, published at once if asked: (id, release).

    Validation runs in full either way (publishing plans again under the feed lock): a
    draft is planned now so that a file that cannot be published is refused at import, not
    at review.
    """
    if not plan.operations:
        raise ValidationError("file", "no_change",
                              f"{plan.source} matches the registry on "
                              f"{plan.effective_date.isoformat()}: nothing to import")
    if not publish:
        checked = dry_run(session, plan)
        if checked.errors:
            raise ValidationErrors(checked.errors)
    draft = change_sets.create_change_set(session, actor, title, legal_basis,
                                          plan.effective_date)
    change_sets.add_operations(session, actor, draft.id, plan.operations)
    release = change_sets.publish_direct(session, actor, draft.id) if publish else None
    return draft.id, release


def describe(op: dict[str, Any], current: dict[str, EntryView], names: dict[str, str]) -> str:
    """One line a reviewer reads: what the operation does to which entry.

    ``names`` gives the new name of entries the file names, for parents and new entries.
    """
    code = op.get("code", "")
    have = current.get(code)

    def label(c: str | None) -> str:
        if c is None:
            return "(top)"
        name = names.get(c) or (current[c].name if c in current else "")
        return f"{c} {name}".strip()

    kind = op["op"]
    if kind == "create":
        under = f" under {label(op['parent'])}" if op.get("parent") else ""
        return f"{code} {op['name']} ({op['type']}){under}"
    old = have.name if have else code
    if kind == "rename":
        return f"{code} {old} → {op['name']}"
    if kind == "reclassify":
        return f"{code} {old}: {have.type if have else '?'} → {op['type']}"
    if kind == "move":
        return f"{code} {names.get(code, old)}: {label(have.parent if have else None)} → " \
               f"{label(op['parent'])}"
    if kind == "update":
        parts = [f"{k}: {have.attributes.get(k) if have else None!r} → {v!r}"
                 for k, v in op["attributes"].items()]
        return f"{code} {old}: " + ", ".join(parts)
    if kind == "retire":
        return f"{code} {old} ({have.type if have else '?'})"
    return f"{kind} {code}"
