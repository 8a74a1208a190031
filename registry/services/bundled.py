"""The bundled national code lists (``registry/data``), loaded through the service layer.

``registry/data/manifest.json`` names the list definitions and the change-set files in the
order they must be published. Each bundled change set becomes an ordinary published change
set, as the system administrator would import an official decision, so the demo database
has the same feed, releases and audit trail as any other.

A bundled change set counts as loaded when a published change set with the same title,
legal number and effective date exists: a second ``registry demo`` finds everything loaded
and reuses the database, and a load interrupted half-way resumes where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.importers.changeset_file import ChangeSetFile, parse_changeset
from registry.importers.decoding import decode_text
from registry.models import ChangeSet, CodeList
from registry.services import change_sets, code_lists
from registry.services.actors import SYSTEM

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BundledChangeSet:
    """One change-set file of the bundle, parsed."""

    path: str
    spec: ChangeSetFile

    @property
    def size(self) -> int:
        """Number of operations: the unit of the progress bar."""
        return len(self.spec.operations)


@dataclass(frozen=True)
class Bundle:
    """The list definitions and change sets of a data directory, in publication order."""

    definitions: list[dict[str, Any]]
    change_sets: list[BundledChangeSet]


def data_dir() -> Traversable:
    """The package's bundled data directory."""
    return resources.files("registry") / "data"


def _read_json(base: Traversable | Path, name: str) -> Any:
    node = base / name
    try:
        return json.loads(decode_text(node.read_bytes(), name))
    except FileNotFoundError:
        raise ValidationError(name, "file", "is missing from the bundled data") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{name}:{exc.lineno}:{exc.colno}", "json",
                              f"malformed JSON: {exc.msg}") from None


def read_bundle(base: Traversable | Path | None = None) -> Bundle:
    """Read ``manifest.json`` and every file it names; a bad file names itself."""
    root = base if base is not None else data_dir()
    manifest = _read_json(root, MANIFEST)
    if not isinstance(manifest, dict):
        raise ValidationError(MANIFEST, "type", "must be an object {lists, changesets}")
    definitions = [_read_json(root, name) for name in manifest.get("lists", [])]
    items = []
    for name in manifest.get("changesets", []):
        try:
            spec = parse_changeset(_read_json(root, name))
        except ValidationError as exc:
            raise ValidationError(f"{name}: {exc.field}", exc.rule, exc.detail) from None
        items.append(BundledChangeSet(name, spec))
    return Bundle(definitions, items)


def lists_to_define(session: Session, bundle: Bundle) -> list[dict[str, Any]]:
    """Definitions that are missing from the registry or differ from what it holds."""
    held = {row.key: row.definition for row in session.scalars(select(CodeList))}
    return [d for d in bundle.definitions if held.get(d.get("key")) != d]


def define_bundled_lists(session: Session, bundle: Bundle) -> int | None:
    """Define the missing or changed lists in one release; return it, if one was made."""
    pending = lists_to_define(session, bundle)
    return code_lists.define_lists(session, SYSTEM, pending) if pending else None


def _published_keys(session: Session) -> set[tuple[str, str, str]]:
    rows = session.execute(
        select(ChangeSet.title, ChangeSet.legal_number, ChangeSet.effective_date)
        .where(ChangeSet.status == "published")
    )
    return {(title, number, day.isoformat()) for title, number, day in rows}


def _key(spec: ChangeSetFile) -> tuple[str, str, str]:
    return (spec.title, spec.legal_basis.number, spec.effective_date.isoformat())


def pending_change_sets(session: Session, bundle: Bundle) -> list[BundledChangeSet]:
    """Bundled change sets not published yet, in manifest order."""
    done = _published_keys(session)
    return [item for item in bundle.change_sets if _key(item.spec) not in done]


def publish_bundled(session: Session, item: BundledChangeSet) -> int:
    """Create, fill and publish one bundled change set as the system; return the release."""
    spec = item.spec
    draft = change_sets.create_change_set(session, SYSTEM, spec.title, spec.legal_basis,
                                          spec.effective_date)
    change_sets.add_operations(session, SYSTEM, draft.id, spec.operations)
    return change_sets.publish_direct(session, SYSTEM, draft.id)
