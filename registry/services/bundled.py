"""The bundled national code lists (``registry/data``), loaded through the service layer.

``registry/data/manifest.json`` names the list definitions and the change-set files in the
order they must be published; :mod:`registry.importers.bundled_load` reads them. Each
bundled change set becomes an ordinary published change set, as the system administrator
would import an official decision, so the demo database has the same feed, releases and
audit trail as any other.

A bundled change set counts as loaded when a published change set with the same title,
legal number and effective date exists: a second ``registry demo`` finds everything loaded
and reuses the database, and a load interrupted half-way resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import Conflict
from registry.models import ChangeSet, CodeList
from registry.services import change_sets, code_lists
from registry.services.actors import SYSTEM
from registry.services.change_sets import LegalBasis

Planner = Callable[[Session], list[dict[str, Any]]]


@dataclass(frozen=True)
class BundledChangeSet:
    """One change set of the bundle, shape-checked (docs/changeset-format.md).

    A change-set file gives its ``operations``; an official table (the reform's conversion
    table) gives a ``planner`` instead, which makes them from the registry's state when the
    change set is published, as ``registry import conversion-table`` does. ``weight``
    estimates its operations before that, for the progress bar.
    """

    path: str
    title: str
    legal_basis: LegalBasis
    effective_date: date
    operations: list[dict[str, Any]]
    planner: Planner | None = None
    weight: int = 0

    @property
    def size(self) -> int:
        """Number of operations (or the estimate): the unit of the progress bar."""
        return len(self.operations) or self.weight

    def operations_for(self, session: Session) -> list[dict[str, Any]]:
        """The operations, planned now against ``session`` when the item has a planner."""
        return self.planner(session) if self.planner is not None else self.operations


@dataclass(frozen=True)
class Bundle:
    """The list definitions and change sets of a data directory, in publication order."""

    definitions: list[dict[str, Any]]
    change_sets: list[BundledChangeSet]


def lists_to_define(session: Session, bundle: Bundle) -> list[dict[str, Any]]:
    """Definitions that are missing from the registry or differ from what it holds."""
    held = {row.key: row.definition for row in session.scalars(select(CodeList))}
    return [d for d in bundle.definitions if held.get(str(d.get("key"))) != d]


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


def _key(item: BundledChangeSet) -> tuple[str, str, str]:
    return (item.title, item.legal_basis.number, item.effective_date.isoformat())


def pending_change_sets(session: Session, bundle: Bundle) -> list[BundledChangeSet]:
    """Bundled change sets not published yet, in manifest order.

    An interrupted load leaves a published head of the manifest and a pending tail. A
    pending change set *before* a published one means the database was loaded from another
    version of the bundle: publishing on top of it would fail on every operation, so it is
    refused with one line instead.
    """
    done = _published_keys(session)
    published = [_key(item) in done for item in bundle.change_sets]
    if True in published:
        last = len(published) - 1 - published[::-1].index(True)
        gap = next((i for i in range(last) if not published[i]), None)
        if gap is not None:
            raise Conflict(f"the database holds another version of the bundled data: "
                           f"{bundle.change_sets[gap].path} is not published but "
                           f"{bundle.change_sets[last].path} is; load the bundle into a new "
                           "database")
    return [item for item, found in zip(bundle.change_sets, published, strict=True)
            if not found]


def publish_bundled(session: Session, item: BundledChangeSet) -> tuple[int, int]:
    """Create, fill and publish one bundled change set as the system: (release, operations)."""
    draft = change_sets.create_change_set(session, SYSTEM, item.title, item.legal_basis,
                                          item.effective_date)
    operations = item.operations_for(session)
    change_sets.add_operations(session, SYSTEM, draft.id, operations)
    return change_sets.publish_direct(session, SYSTEM, draft.id), len(operations)
