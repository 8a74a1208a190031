"""Reading the lists: ``lists``, ``define-lists``, ``show``, ``history``, ``resolve``.

Each command imports the services it reads with: ``registry lists`` needs neither the
lineage reads of ``resolve`` nor the JSON decoding of ``define-lists``, and ``--help``
needs none of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from registry.cli.database import unit_of_work
from registry.cli.output import emit, fail, out, parse_day
from registry.errors import RegistryError

if TYPE_CHECKING:
    from registry.services.queries import EntryView


def _checked_day(value: str | None) -> str | None:
    """A malformed date is refused while parsing, before any database is looked for."""
    parse_day(value, "--as-of")
    return value


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", callback=_checked_day,
                                             help="Valid date, YYYY-MM-DD "
                                             "(default: today in Viet Nam).")]
AtReleaseOpt = Annotated[int | None, typer.Option("--at-release",
                                                  help="Record time: answer as release N did.")]


def lists_cmd(as_json: JsonOpt = False) -> None:
    """The code lists, with their active entry counts today."""
    from registry.services import code_lists, queries

    with unit_of_work() as session:
        rows = code_lists.all_lists(session)
        counts = queries.count_entries(session)
        data = [{"key": r.key, "name": r.name, "name_en": r.name_en, "owner": r.owner,
                 "entries": counts.get(r.key, 0), "release": r.release_id} for r in rows]

    def render() -> None:
        table = Table("key", "name", "entries", "owner")
        for d in data:
            table.add_row(str(d["key"]), str(d["name"]), str(d["entries"]), str(d["owner"] or ""))
        out.print(table)

    emit(data, as_json, render)


def define_lists_cmd(files: list[Path]) -> None:
    """Define new code lists (or change them) from JSON files; see docs/list-format.md."""
    from registry.importers.decoding import decode_text
    from registry.importers.json_input import load_json
    from registry.services import code_lists
    from registry.services.actors import SYSTEM

    definitions = []
    for path in files:
        try:
            # Strict JSON: bounded nesting, no repeated keys (a ValidationError is one line).
            definitions.append(load_json(decode_text(path.read_bytes(), str(path)), path.name))
        except OSError as exc:
            fail(f"{path}: {exc}")
        except RegistryError as exc:  # encoding, nesting, repeated keys: one line each
            fail(exc.message)
    with unit_of_work() as session:
        release = code_lists.define_lists(session, SYSTEM, definitions)
    out.print(f"defined {len(definitions)} list(s) in release {release}")


def _render_entry(view: EntryView) -> None:
    table = Table(show_header=False, box=None)
    for key, value in view.as_dict().items():
        table.add_row(f"[bold]{key}[/]", json.dumps(value, ensure_ascii=False)
                      if isinstance(value, dict) else str(value if value is not None else "—"))
    out.print(table)


def show_cmd(list_key: str, code: str, as_of: AsOfOpt = None, at_release: AtReleaseOpt = None,
             as_json: JsonOpt = False) -> None:
    """One entry as of a date, as a release said it."""
    from registry.services import code_lists, queries

    day = parse_day(as_of, "--as-of")
    with unit_of_work() as session:
        code_lists.get_list(session, list_key)  # a mistyped list is named as a list
        view = queries.require_entry(session, list_key, code, day, at_release)
    emit(view.as_dict(), as_json, lambda: _render_entry(view))


def history_cmd(list_key: str, code: str, as_json: JsonOpt = False) -> None:
    """Every recorded version of an entry, with its release and change set."""
    from registry.services import code_lists, queries

    with unit_of_work() as session:
        code_lists.get_list(session, list_key)
        items = queries.history(session, list_key, code)
    data = [{**i.version.as_dict(), "legal_basis": i.legal_number, "title": i.title}
            for i in items]

    def render() -> None:
        table = Table("release")
        # Dates are read whole or not at all: the names and legal bases wrap instead.
        table.add_column("valid from", no_wrap=True, min_width=10)
        table.add_column("valid to", no_wrap=True, min_width=10)
        for header in ("status", "name", "type", "parent", "superseded", "legal basis"):
            table.add_column(header)
        for d in data:
            table.add_row(str(d["recorded_release"]), d["valid_from"], d["valid_to"] or "…",
                          d["status"], d["name"], d["type"], d["parent"] or "",
                          str(d["superseded_release"] or ""), d["legal_basis"] or "")
        out.print(table)

    emit(data, as_json, render)


def resolve_cmd(list_key: str, code: str, as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """What a code denotes on a date; what it became, and where its area went."""
    from registry.services import code_lists, graph_reads

    day = parse_day(as_of, "--as-of")
    with unit_of_work() as session:
        code_lists.get_list(session, list_key)
        result = graph_reads.resolve(session, list_key, code, day)

    def render() -> None:
        # Printed whole (no wrapping): the lines are read by people and by scripts alike.
        def say(text: str) -> None:
            out.print(text, soft_wrap=True)

        when = result.on.isoformat()
        if result.status == "not_yet":
            say(f"{code} does not exist yet on {when}")
            return
        if result.status == "active" and result.entry:
            say(f"{code} on {when}: [bold]{result.entry.name}[/] ({result.entry.type}), active")
        else:
            old = result.entry.name if result.entry else code
            say(f"{code} ({old}) ended on {result.ended_on}; on {when} it is:")
        for s in result.successors:
            mark = "[green]default[/]" if s.is_default else "       "
            how = f"via {'+'.join(s.kinds)}" if s.kinds else "continues"
            say(f"  {mark} {s.entry.code} {s.entry.name} ({s.entry.type}) {how}"
                + (f", share {s.share:g}" if s.share else ""))
        if result.divided_on and result.ambiguous:
            say(f"[yellow]ambiguous:[/] part of its area went to other units on "
                f"{result.divided_on}; an address recorded before then may now be in one of "
                "them")
        elif result.ambiguous:
            say("[yellow]ambiguous:[/] the code was divided; the default is the usual "
                "choice, check the address to be sure")

    emit(result.as_dict(), as_json, render)


def register(app: typer.Typer) -> None:
    """Add the reading commands to ``app``."""
    app.command("lists")(lists_cmd)
    app.command("define-lists")(define_lists_cmd)
    app.command("show")(show_cmd)
    app.command("history")(history_cmd)
    app.command("resolve")(resolve_cmd)
