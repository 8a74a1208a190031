"""Loading the bundled data into a database: the edge that owns the transactions.

One transaction for the list definitions, then one per bundled change set, so that an
interrupted load keeps what it published and the next run resumes after it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry.db import session_factory, transaction
from registry.errors import ValidationError
from registry.importers.changeset_file import parse_changeset
from registry.importers.conversion_plan import plan_conversion
from registry.importers.conversion_table import ConversionTable, read_conversion_bytes, read_fixes
from registry.importers.decoding import decode_text
from registry.services import bundled
from registry.services.change_sets import parse_legal_basis
from registry.services.operations import parse_date

Advance = Callable[[str, int], None]
MANIFEST = "manifest.json"


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


def _read_bytes(base: Traversable | Path, name: str) -> bytes:
    try:
        return (base / name).read_bytes()
    except FileNotFoundError:
        raise ValidationError(name, "file", "is missing from the bundled data") from None


def _conversion_item(root: Traversable | Path, entry: dict[str, Any],
                     tables: dict[str, ConversionTable]) -> bundled.BundledChangeSet:
    """A manifest entry ``{conversion_table, fixes, province, title, legal_basis,
    effective_date}``: one province of an official conversion table, planned at publish
    time by the same code as ``registry import conversion-table``."""
    name = entry.get("conversion_table")
    if not isinstance(name, str):
        raise ValidationError(MANIFEST, "conversion_table", "must name a file")
    if name not in tables:
        fixes_name = entry.get("fixes")
        fixes = read_fixes(_read_bytes(root, fixes_name), fixes_name) \
            if isinstance(fixes_name, str) else None
        tables[name] = read_conversion_bytes(_read_bytes(root, name), name, fixes)
    table = tables[name]
    try:
        title = entry.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValidationError("title", "required", "is required")
        basis = parse_legal_basis(entry.get("legal_basis"))
        effective = parse_date(entry.get("effective_date"), "effective_date")
    except ValidationError as exc:
        raise ValidationError(f"{MANIFEST}: {name}: {exc.field}", exc.rule, exc.detail) \
            from None
    province = entry.get("province")
    if province is not None and not isinstance(province, str):
        raise ValidationError(f"{MANIFEST}: {name}", "province", "must be a code")
    # The operations are known only once planned: a merge per new commune, a retirement per
    # district and the province's merge are a close estimate for the progress bar.
    mine = [lk for lk in table.links if province is None or lk.new_province == province]
    weight = len({lk.new_code for lk in mine}) + len({lk.old_district for lk in mine}) + 1

    def planner(session: Session) -> list[dict[str, Any]]:
        return plan_conversion(session, table, effective, province).operations

    label = f"{name}#{province}" if province else name
    return bundled.BundledChangeSet(label, title.strip(), basis, effective, [], planner, weight)


def read_bundle(base: Traversable | Path | None = None) -> bundled.Bundle:
    """Read ``manifest.json`` and every file it names; a bad file names itself.

    An entry of ``changesets`` is a change-set file, or an object naming an official
    conversion table (see :func:`_conversion_item`).
    """
    root = base if base is not None else data_dir()
    manifest = _read_json(root, MANIFEST)
    if not isinstance(manifest, dict):
        raise ValidationError(MANIFEST, "type", "must be an object {lists, changesets}")
    definitions = [_read_json(root, name) for name in manifest.get("lists", [])]
    items = []
    tables: dict[str, ConversionTable] = {}
    for name in manifest.get("changesets", []):
        if isinstance(name, dict):
            items.append(_conversion_item(root, name, tables))
            continue
        raw = _read_json(root, name)  # names the file and line itself
        try:
            spec = parse_changeset(raw)
        except ValidationError as exc:
            raise ValidationError(f"{name}: {exc.field}", exc.rule, exc.detail) from None
        items.append(bundled.BundledChangeSet(name, spec.title, spec.legal_basis,
                                              spec.effective_date, spec.operations))
    return bundled.Bundle(definitions, items)


@dataclass
class LoadReport:
    """What a load did: lists defined, change sets published (and skipped), and how long."""

    lists_release: int | None = None
    published: list[tuple[str, int]] = field(default_factory=list)
    skipped: int = 0
    operations: int = 0
    seconds: float = 0.0


def load_bundled_data(engine: Engine, advance: Advance | None = None,
                      bundle: bundled.Bundle | None = None) -> LoadReport:
    """Define the bundled lists and publish every bundled change set not published yet.

    ``advance(path, operations)`` is called after each change set, for progress reports.
    """
    started = time.perf_counter()
    bundle = bundle or read_bundle()
    sessions = session_factory(engine)
    report = LoadReport()
    with transaction(sessions) as session:
        report.lists_release = bundled.define_bundled_lists(session, bundle)
        pending = bundled.pending_change_sets(session, bundle)
    report.skipped = len(bundle.change_sets) - len(pending)
    for item in pending:
        with transaction(sessions) as session:
            release, operations = bundled.publish_bundled(session, item)
        report.published.append((item.path, release))
        report.operations += operations
        if advance is not None:
            advance(item.path, operations)
    if pending and engine.dialect.name == "sqlite":
        # Fresh statistics let SQLite pick the parent index for children lists
        # (28 ms → 6 ms for a province's communes on the demo data).
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    report.seconds = time.perf_counter() - started
    return report


def load_with_progress(engine: Engine, console: Console) -> LoadReport:
    """:func:`load_bundled_data` with a progress bar weighted by operations."""
    bundle = read_bundle()
    with transaction(session_factory(engine)) as session:
        pending = bundled.pending_change_sets(session, bundle)
    total = sum(item.size for item in pending)
    if not pending:
        return load_bundled_data(engine, bundle=bundle)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("operations"), TimeElapsedColumn(), TextColumn("{task.fields[file]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("loading bundled data", total=total, file="")
        # The bar moves when a change set is published; say which one is being published.
        progress.update(task, file=pending[0].path)
        queue = [item.path for item in pending[1:]] + [""]

        def advance(_path: str, size: int) -> None:
            progress.update(task, advance=size, file=queue.pop(0))

        report = load_bundled_data(engine, advance, bundle)
        # estimates (the reform's plans) give way to what was really published
        progress.update(task, total=report.operations, completed=report.operations)
        return report
