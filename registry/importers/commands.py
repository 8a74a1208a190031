"""CLI commands of this interface: ``import gso``, ``import csv``, ``export``, ``convert``
and ``demo``.

``demo`` lives in :mod:`registry.importers.demo`, ``convert`` in
:mod:`registry.importers.convert_command`; each module registers its own commands, so that
the command line loads only the one it runs (:mod:`registry.cli.commands`).

The helpers of :mod:`registry.cli` and the import plans (with SQLAlchemy and the services)
are imported inside the commands: their options and --help need none of them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table as RichTable

from registry.cli.acting import ActorOpt, TokenOpt

if TYPE_CHECKING:
    from registry.importers.plans import ImportPlan

EffectiveOpt = Annotated[str, typer.Option("--effective", help="Effective date, YYYY-MM-DD.")]
DecisionOpt = Annotated[str | None, typer.Option("--decision",
                                                 help="Number of the legal document.")]
DecisionDateOpt = Annotated[str | None, typer.Option("--decision-date",
                                                     help="Its signing date, YYYY-MM-DD.")]
IssuerOpt = Annotated[str | None, typer.Option("--issuer", help="Who issued it.")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="Link to the document.")]
TitleOpt = Annotated[str | None, typer.Option("--title", help="Title of the change set.")]
PublishOpt = Annotated[bool, typer.Option("--publish", help="Publish at once as the system "
                                          "administrator (official imports).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show the diff; write nothing.")]
SkipBadOpt = Annotated[bool, typer.Option("--skip-bad", help="Import the good rows of a file "
                                          "with bad rows (codes on bad rows are kept).")]
ExamplesOpt = Annotated[int, typer.Option("--examples", help="Examples shown per operation.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AuthorOpt = ActorOpt


def _render_plan(plan: ImportPlan, diff: dict[str, Any] | None, examples: int) -> None:
    from rich.markup import escape
    from rich.text import Text

    from registry.cli.output import out

    # Every text from the file is escaped or printed without markup: "[/x]" in a cell is
    # text, not a tag (an unmatched one would end the command with a MarkupError).
    out.print(f"[bold]{escape(plan.source)}[/]: {plan.rows} rows, list {plan.list_key}, "
              f"effective {plan.effective_date.isoformat()}", highlight=False)
    for note in plan.notes:
        out.print(f"  {note}", highlight=False, markup=False)
    out.print(f"  scope: {plan.scope}", highlight=False, markup=False)
    counts = plan.counts()
    summary = ", ".join(f"{name} {n}" for name, n in counts.items()) or "no changes"
    out.print(f"[bold]{len(plan.operations)} operations[/]: {summary}", highlight=False)
    groups = plan.by_group()
    if len(groups) > 1 or (groups and next(iter(groups)) != plan.list_key):
        table = RichTable("province", *counts, "total")
        for group, found in groups.items():
            table.add_row(Text(group), *(str(found.get(name, "")) for name in counts),
                          str(sum(found.values())))
        out.print(table)
    for name, lines in plan.examples(examples).items():
        out.print(f"[bold]{name}[/] (first {len(lines)} of {counts[name]}):")
        for line in lines:
            out.print(f"  {line}", highlight=False, markup=False)
    if diff is not None:
        planned = ", ".join(f"{k} {v}" for k, v in sorted(diff["summary"].items()) if v)
        out.print(f"publishing would record: {planned or 'nothing'}", highlight=False)
        for problem in diff["errors"][:50]:
            out.print(f"  [bold red]problem[/] {escape(problem['field'])}: "
                      f"{escape(problem['message'])}", highlight=False)
        if len(diff["errors"]) > 50:
            out.print(f"  … and {len(diff['errors']) - 50} more problems")
    for bad in plan.bad[:50]:
        tag = "skipped" if plan.skipped_bad else "bad row"
        out.print(f"  [bold red]{tag}[/] {escape(plan.source)}:{bad.line}: "
                  f"{escape(bad.reason)}", highlight=False)
    if len(plan.bad) > 50:
        out.print(f"  … and {len(plan.bad) - 50} more bad rows")


def _legal_basis(decision: str | None, decision_date: str | None, issuer: str | None,
                 url: str | None) -> Any:
    from registry.cli.output import fail
    from registry.errors import RegistryError
    from registry.services.change_sets import parse_legal_basis

    missing = [name for name, value in (("--decision", decision),
                                        ("--decision-date", decision_date),
                                        ("--issuer", issuer)) if not value]
    if missing:
        fail(f"an import needs its legal basis: give {', '.join(missing)}")
    try:
        return parse_legal_basis({"number": decision, "date": decision_date, "issuer": issuer,
                                  "url": url}, "--decision")
    except RegistryError as exc:
        fail(exc.message)


def _run_import(plan_of: Any, *, dry_run: bool, skip_bad: bool, publish: bool, actor: str,
                token: str | None, title: str, basis: Any, examples: int,
                as_json: bool) -> None:
    """Plan inside one transaction; dry run: show and roll back; else record the change set."""
    from registry.cli.acting import acting
    from registry.cli.database import unit_of_work
    from registry.cli.output import emit, err, out
    from registry.importers.plans import commit_import, refuse_bad_rows
    from registry.importers.plans import dry_run as plan_dry_run
    from registry.services.actors import SYSTEM

    with unit_of_work() as session:
        plan: ImportPlan = plan_of(session)
        if dry_run:
            diff = plan_dry_run(session, plan).diff()
            plan.skipped_bad = skip_bad and bool(plan.bad)
            data = {**plan.summary(examples), "diff": diff}
            emit(data, as_json, lambda: _render_plan(plan, diff, examples))
            session.rollback()
            if diff["errors"] or (plan.bad and not skip_bad):
                raise typer.Exit(1)
            return
        refuse_bad_rows(plan, skip_bad)
        who = acting(session, actor, token) if token or not publish else SYSTEM
        cs_id, release = commit_import(session, who, plan, title, basis, publish)
    # What the dry run shows among the plan's lines (formula warnings among them), on
    # stderr here: standard output keeps the one line saying what was recorded.
    for note in plan.notes:
        err.print(note, highlight=False, markup=False, soft_wrap=True)
    counts = ", ".join(f"{k} {v}" for k, v in plan.counts().items())
    skipped = f"; {len(plan.bad)} bad rows skipped" if plan.skipped_bad else ""
    if release:
        out.print(f"change set {cs_id} published as release {release} ({counts}{skipped})")
    else:
        out.print(f"change set {cs_id} created as a draft ({counts}{skipped}); review it with "
                  f"'registry changeset show {cs_id}'")


def import_gso_cmd(
    file: Path, effective: EffectiveOpt, decision: DecisionOpt = None,
    decision_date: DecisionDateOpt = None, issuer: IssuerOpt = None, url: UrlOpt = None,
    title: TitleOpt = None, publish: PublishOpt = False, dry_run: DryRunOpt = False,
    skip_bad: SkipBadOpt = False,
    whole_country: Annotated[bool, typer.Option(
        "--whole-country", help="The file is the whole list: retire every unit it leaves "
        "out, in any province (default: only under the provinces it names).")] = False,
    examples: ExamplesOpt = 5, actor: AuthorOpt = "system", token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import the statistics office's administrative-unit export (CSV or XLSX)."""
    from registry.cli.output import fail
    from registry.cli.output import parse_day as _date
    from registry.errors import RegistryError
    from registry.importers.gso import read_gso_file
    from registry.importers.gso_import import plan_gso_import

    day = _date(effective, "--effective")
    assert day is not None
    basis = None if dry_run else _legal_basis(decision, decision_date, issuer, url)
    try:
        parsed = read_gso_file(file)
    except RegistryError as exc:
        fail(exc.message)
    name = title or f"Nhập đơn vị hành chính từ {file.name} (hiệu lực {day.isoformat()})"
    _run_import(lambda s: plan_gso_import(s, parsed, day, whole_country), dry_run=dry_run,
                skip_bad=skip_bad, publish=publish, actor=actor, token=token, title=name,
                basis=basis, examples=examples, as_json=as_json)


def import_csv_cmd(
    list_key: str, file: Path, effective: EffectiveOpt, decision: DecisionOpt = None,
    decision_date: DecisionDateOpt = None, issuer: IssuerOpt = None, url: UrlOpt = None,
    title: TitleOpt = None,
    maps: Annotated[list[str] | None, typer.Option(
        "--map", help="FIELD=COLUMN (FIELD: code, name, type, parent, short_name, name_en or "
        "attributes.NAME); repeat it.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Type of rows without one.")]
    = None,
    retire_missing: Annotated[bool, typer.Option(
        "--retire-missing", help="The file is the whole list: retire entries it leaves "
        "out.")] = False,
    publish: PublishOpt = False, dry_run: DryRunOpt = False, skip_bad: SkipBadOpt = False,
    examples: ExamplesOpt = 5, actor: AuthorOpt = "system", token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import any code list from CSV or XLSX, columns mapped to fields and attributes."""
    from registry.cli.output import fail
    from registry.cli.output import parse_day as _date
    from registry.errors import RegistryError
    from registry.importers.csv_generic import parse_map_options, plan_csv_import
    from registry.importers.tabular import read_table_file

    day = _date(effective, "--effective")
    assert day is not None
    basis = None if dry_run else _legal_basis(decision, decision_date, issuer, url)
    try:
        table = read_table_file(file)
        explicit = parse_map_options(maps or [])
    except RegistryError as exc:
        fail(exc.message)
    name = title or f"Nhập danh mục {list_key} từ {file.name} (hiệu lực {day.isoformat()})"
    _run_import(lambda s: plan_csv_import(s, list_key, table, day, explicit, type_,
                                          retire_missing),
                dry_run=dry_run, skip_bad=skip_bad, publish=publish, actor=actor, token=token,
                title=name, basis=basis, examples=examples, as_json=as_json)


def import_conversion_cmd(
    file: Path, effective: EffectiveOpt, decision: DecisionOpt = None,
    decision_date: DecisionDateOpt = None, issuer: IssuerOpt = None, url: UrlOpt = None,
    title: TitleOpt = None,
    province: Annotated[str | None, typer.Option(
        "--province", help="Only the new communes of this new province (one resolution "
        "each in 2025); default: the whole table.")] = None,
    fixes: Annotated[Path | None, typer.Option(
        "--fixes", help="CSV of known typos in the table: new code, old code as published, "
        "corrected old code.")] = None,
    publish: PublishOpt = False, dry_run: DryRunOpt = False,
    examples: ExamplesOpt = 5, actor: AuthorOpt = "system", token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import the statistics office's old → new conversion table as one reform change set.

    Merges with part/whole links and a default successor for each divided commune,
    retirements of the districts that empty out, and the province merges.
    """
    from registry.cli.output import fail
    from registry.cli.output import parse_day as _date
    from registry.errors import RegistryError
    from registry.importers.conversion_plan import plan_conversion
    from registry.importers.conversion_table import read_conversion_file

    day = _date(effective, "--effective")
    assert day is not None
    basis = None if dry_run else _legal_basis(decision, decision_date, issuer, url)
    try:
        table = read_conversion_file(file, fixes)
    except RegistryError as exc:
        fail(exc.message)
    where = f" tỉnh {province}" if province else ""
    name = title or (f"Sắp xếp đơn vị hành chính{where} theo bảng chuyển đổi {file.name} "
                     f"(hiệu lực {day.isoformat()})")
    _run_import(lambda s: plan_conversion(s, table, day, province), dry_run=dry_run,
                skip_bad=False, publish=publish, actor=actor, token=token, title=name, basis=basis,
                examples=examples, as_json=as_json)


def export_cmd(
    list_key: str,
    fmt: Annotated[str, typer.Option("--format", help="csv, json or xlsx.")] = "csv",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Valid date, YYYY-MM-DD "
                                              "(default: today in Viet Nam).")] = None,
    at_release: Annotated[int | None, typer.Option("--at-release", help="Record time: "
                                                   "export what release N said.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here (default: "
                                                  "standard output).")] = None,
    history: Annotated[bool, typer.Option("--history", help="JSON: add every version of "
                                          "every entry.")] = False,
    bom: Annotated[bool, typer.Option("--bom", help="CSV: start with a UTF-8 byte-order mark, "
                                      "for Excel.")] = False,
) -> None:
    """Export a list on a date: admin units in the statistics office's layout."""
    from registry.cli.database import unit_of_work
    from registry.cli.output import err, fail
    from registry.cli.output import parse_day as _date
    from registry.exporters.export import FORMATS, export_list

    if fmt not in FORMATS:
        fail(f"--format must be one of: {', '.join(FORMATS)}")
    if fmt == "xlsx" and out_file is None and sys.stdout.isatty():
        fail("an XLSX workbook is binary: give --out FILE")
    day = _date(as_of, "--as-of")
    with unit_of_work() as session:
        result = export_list(session, list_key, fmt, day, at_release, history=history, bom=bom)
    if out_file is None:
        sys.stdout.buffer.write(result.data)
        sys.stdout.flush()
        return
    try:
        out_file.write_bytes(result.data)
    except OSError as exc:
        fail(f"{out_file}: {exc.strerror or exc}")
    err.print(f"{result.rows} rows of {list_key} on {result.as_of.isoformat()} at release "
              f"{result.release} written to {out_file}", highlight=False)


def register_import(app: typer.Typer) -> None:
    """Add ``import gso``, ``import csv`` and ``import conversion-table`` to ``app``'s
    ``import`` group (made here when ``app`` has none yet)."""
    import_app = next((group.typer_instance for group in app.registered_groups
                       if group.name == "import"), None)
    if import_app is None:
        import_app = typer.Typer(help="Import files as change sets.", no_args_is_help=True)
        app.add_typer(import_app, name="import")
    # The group may be another module's, registered before: add each command once.
    present = {command.name for command in import_app.registered_commands}
    for name, command in (("gso", import_gso_cmd), ("csv", import_csv_cmd),
                          ("conversion-table", import_conversion_cmd)):
        if name not in present:
            import_app.command(name)(command)


def register_export(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command("export")(export_cmd)


def register(app: typer.Typer) -> None:
    """Add ``import gso``, ``import csv``, ``export``, ``convert`` and ``demo`` to ``app``."""
    from registry.importers import convert_command, demo

    register_import(app)
    register_export(app)
    convert_command.register(app)
    demo.register(app)
