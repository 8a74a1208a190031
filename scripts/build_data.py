#!/usr/bin/env python3
"""Generate the registry's bundled reference data in ``registry/data/`` from its sources.

Run from the repository root, in an environment where the registry is installed, after
installing the generation-time source of the nationality list::

    pip install -e . pycountry
    python scripts/build_data.py

One module per list in ``scripts/datasets/`` holds its sources and the checks of its facts.
The administrative units come from the statistics office's own tables, copied into
``registry/data/sources/`` with their provenance; the reform of 2025-07-01 is not written as
change-set files but as manifest entries that name the office's conversion table, so that
``registry demo`` loads it through ``registry import conversion-table``.

Nothing is written unless every check passes: the bundle is first written to a scratch
directory, loaded into a scratch registry by the registry's own loader, and its answers are
compared with the official table (successor sets, defaults, "toàn bộ dân số"). A failing
check prints ``CHECK FAILED: …`` and exits non-zero. The output is deterministic.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import admin_units, agencies, procedures, small_lists
from datasets.common import (
    DATA,
    ROOT,
    BuildError,
    changeset_text,
    check,
    check_nfc,
    definition_text,
    dumps,
)

# The bundle defines the procedure list under a name that says its data is a sample; the
# built-in definition (lists/procedures.json) that every registry starts with does not.
HAND_MAINTAINED = ("lists/admin-units.json", "lists/agencies.json",
                   "lists/procedures-sample.json")


def write_bundle(target: Path, lists: list[tuple[str, dict[str, Any]]],
                 ordered: list[tuple[str, dict[str, Any]]]) -> None:
    """Write list definitions, change sets and the manifest under ``target``."""
    (target / "lists").mkdir(parents=True, exist_ok=True)
    (target / "changesets").mkdir(parents=True, exist_ok=True)
    for key, definition in lists:
        text = definition_text(definition)
        check_nfc(text, key)
        (target / "lists" / f"{key}.json").write_text(text, "utf-8")
    entries: list[str | dict[str, Any]] = []
    number = 0
    for slug, item in ordered:
        if "conversion_table" in item:
            entries.append(item)
            continue
        number += 1
        name = f"changesets/{number:03d}-{slug}.json"
        text = changeset_text(item)
        check_nfc(text, name)
        (target / name).write_text(text, "utf-8")
        entries.append(name)
    manifest_lists = [*HAND_MAINTAINED, *[f"lists/{key}.json" for key, _ in lists]]
    text = ("{\n" + f'  "lists": {dumps(manifest_lists)},\n  "changesets": [\n'
            + ",\n".join(f"    {dumps(e)}" for e in entries) + "\n  ]\n}\n")
    check_nfc(text, "manifest.json")
    (target / "manifest.json").write_text(text, "utf-8")


def load_and_read(data_dir: Path) -> dict[str, Any]:
    """Load the bundle in ``data_dir`` into a scratch SQLite registry; read its answers."""
    from registry.db import make_engine, session_factory, transaction
    from registry.importers.bundled_load import load_bundled_data, read_bundle
    from registry.migrate import upgrade
    from registry.services.export_reads import all_links, entries_on

    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'check.db'}")
        try:
            upgrade(engine)
            report = load_bundled_data(engine, bundle=read_bundle(data_dir))
            with transaction(session_factory(engine)) as session:
                def state(day: date, list_key: str = admin_units.ADMIN) -> dict[str, Any]:
                    return {v.code: {"level": v.level, "name": v.name, "type": v.type,
                                     "parent": v.parent} for v in entries_on(session, list_key,
                                                                             day)}
                return {
                    "before": state(date(2025, 6, 30)), "after": state(date(2025, 7, 1)),
                    "agencies": set(state(date(2025, 7, 1), agencies.AGENCIES)),
                    "links": [(lk.from_code, lk.to_code, lk.kind, lk.is_default)
                              for lk in all_links(session, admin_units.ADMIN)],
                    "seconds": report.seconds, "operations": report.operations,
                }
        finally:
            engine.dispose()


def main() -> int:
    corrections: list[str] = []
    official = admin_units.read_official()
    base = admin_units.baseline(official, corrections)
    small = small_lists.changesets()
    by_key = {key: (slug, cs) for key, _d, slug, cs in small}
    agency_sets = agencies.changesets()
    ordered: list[tuple[str, dict[str, Any]]] = [
        by_key["ethnic-groups"], by_key["religions"], by_key["genders"],
        by_key["nationalities"],
        ("admin-units-baseline-2025-01-01", base),
        (agency_sets[1][0], agency_sets[1][2]),  # provincial samples, 2025-01-01
        (agency_sets[0][0], agency_sets[0][2]),  # ministries, 2025-04-14
        *[(f"admin-units-2025-{e['province']}", e)
          for e in admin_units.reform_entries(official, base)],
        (agency_sets[2][0], agency_sets[2][2]),  # retire the provincial samples
        ("procedures-sample", procedures.changeset()),
    ]
    dates = [item["effective_date"] for _, item in ordered]
    check(dates == sorted(dates), "change sets are not in effective-date order")
    lists = [(key, definition) for key, definition, _s, _c in small]

    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / "data"
        write_bundle(staged, lists, ordered)
        for name in HAND_MAINTAINED:
            shutil.copyfile(DATA / name, staged / name)
        shutil.copytree(DATA / "sources", staged / "sources")
        loaded = load_and_read(staged)
        figures = admin_units.check_loaded(official, loaded)
        agencies.check_result(loaded["agencies"])
        # every check passed: replace the generated files
        for old in (DATA / "changesets").glob("*.json"):
            old.unlink()
        for path in staged.rglob("*"):
            if path.is_file() and "sources" not in path.parts:
                destination = DATA / path.relative_to(staged)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)

    before = census(loaded["before"])
    print("pycountry", importlib.metadata.version("pycountry"),
          "| sources:", ", ".join(sorted(p.name for p in (DATA / "sources").glob("*.csv"))))
    print(f"before 2025-07-01: {before}")
    print(f"after 2025-07-01: {census(loaded['after'])}")
    print(f"official table: {figures['old']:,} pre-reform communes; successor sets equal the "
          f"table for {figures['equal']:,} of {figures['old']:,}")
    print(f"  {figures['divided']} divided units ({figures['continuing']} keep their code and "
          f"resolve as ambiguous); {figures['defaults']} of {figures['divided']} defaults are "
          "official successors")
    print("  defaults by rule: " + ", ".join(f"{k} {v}" for k, v in figures["rules"].items()))
    print(f"  'toàn bộ dân số' successors followed as the default: {figures['people_followed']}"
          f" of {figures['people']}")
    print(f"  {figures['links']:,} lineage links; table fixes: {len(official.fixes)}")
    for item in figures["explained"]:
        print(f"  explained: {item}")
    print(f"nationalities without a Vietnamese name: {', '.join(small_lists.UNTRANSLATED)}")
    print(f"loaded in a scratch registry: {loaded['operations']:,} operations in "
          f"{loaded['seconds']:.1f} s")
    print(f"corrections and choices ({len(corrections)}):")
    for item in corrections:
        print("  " + item)
    print(f"wrote {DATA.relative_to(ROOT)}/manifest.json, change sets and list definitions")
    return 0


def census(state: dict[str, Any]) -> str:
    counts: dict[str, dict[str, int]] = {}
    for unit in state.values():
        level = counts.setdefault(unit["level"], {})
        level[unit["type"]] = level.get(unit["type"], 0) + 1
    return "; ".join(f"{sum(v.values())} {k} {v}" for k, v in counts.items())


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as exc:
        print(f"build_data: CHECK FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
