"""The command line loads only the command it runs; its table agrees with the commands.

``registry --help`` lists the commands from :mod:`registry.cli.commands` without importing
them; ``registry COMMAND`` imports that command's module alone. The table is checked here
against every interface's commands assembled at once, as the command line was before.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer._click.core import Command, Context
from typer.core import TyperGroup

from registry.cli import app
from registry.cli.commands import BY_NAME, COMMANDS, INTERFACES
from registry.cli.group import RegistryGroup, add_database_options, load_command, register
from tests.cli.helpers import assert_one_line_error, registry

ROOT = Path(__file__).resolve().parents[2]
# What no --help needs: the database layer, the models, the services, the other interfaces.
HEAVY = ("sqlalchemy", "psycopg", "registry.models", "registry.services.queries",
         "registry.services.code_lists", "strawberry")
COMMAND_MODULES = ("registry.cli.entries", "registry.cli.changesets", "registry.cli.schema",
                   "registry.graphql.commands", "registry.sync.commands",
                   "registry.importers.commands", "registry.importers.convert_command",
                   "registry.importers.demo", "registry.webhooks.commands",
                   "registry.broker.commands")


@pytest.fixture(scope="module")
def eager() -> TyperGroup:
    """Every interface's commands assembled at once, as ``registry`` once did at startup."""
    app = typer.Typer()
    for spec in INTERFACES:
        register(app, spec)
    add_database_options(app)
    return typer.main.get_group(app)


def _first_paragraph(command: Command) -> str:
    return inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]


_PARAM_FIELDS = ("name", "opts", "secondary_opts", "required", "default", "help", "envvar",
                 "metavar", "is_flag", "multiple", "nargs", "hidden", "min", "max",
                 "show_default", "is_eager")


def _shape(command: Command) -> dict[str, Any]:
    """What a user sees of a command: its help, options and arguments, its subcommands."""
    ctx = Context(command)
    shape: dict[str, Any] = {
        "help": command.help, "short_help": command.short_help, "hidden": command.hidden,
        "deprecated": command.deprecated,
        "panel": getattr(command, "rich_help_panel", None),
        "params": [{key: repr(getattr(p, key, None)) for key in _PARAM_FIELDS}
                   | {"type": repr(getattr(getattr(p, "type_descriptor", None), "annotation",
                                           None))}
                   for p in command.get_params(ctx)],
    }
    if isinstance(command, TyperGroup):
        shape["commands"] = {name: _shape(sub) for name in command.list_commands(ctx)
                             if (sub := command.get_command(ctx, name)) is not None}
    return shape


def test_the_table_lists_every_command_in_order_with_its_short_help(
        eager: TyperGroup) -> None:
    assert [c.name for c in COMMANDS] == list(eager.commands)
    for name, command in eager.commands.items():
        assert BY_NAME[name].help == _first_paragraph(command), name
        # A stand-in in the listing shows only a name and a help text.
        assert not command.hidden and not command.deprecated, name
        assert not getattr(command, "rich_help_panel", None), name  # the default panel


def test_each_command_loaded_alone_is_the_command_assembled_with_all(
        eager: TyperGroup) -> None:
    for name, command in eager.commands.items():
        assert _shape(load_command(name)) == _shape(command), name


def test_every_registering_module_is_reached() -> None:
    named = {spec.partition(":")[0] for c in COMMANDS for spec in c.registers}
    found = set()
    for path in (ROOT / "registry").rglob("*.py"):
        if re.search(r"^def register\(app: typer\.Typer\)", path.read_text("utf-8"), re.M):
            found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    # web's register adds nothing yet; it is assembled with the rest all the same.
    assert found == set(INTERFACES) | named


def test_the_top_group_loads_nothing_to_list_its_commands() -> None:
    code = ("import sys\n"
            "from registry.cli import app\n"
            "import typer.main\n"
            "group = typer.main.get_command(app)\n"
            "from typer._click.core import Context\n"
            "ctx = Context(group, info_name='registry')\n"
            "text = group.get_help(ctx)\n"
            f"loaded = [m for m in {COMMAND_MODULES + HEAVY!r} if m in sys.modules]\n"
            "assert not loaded, loaded\n"
            "print(text)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    for command in COMMANDS:
        assert re.search(rf"│ {re.escape(command.name)} +{re.escape(command.help)} +│",
                         proc.stdout), command.name
    assert isinstance(typer.main.get_command(app), RegistryGroup)


def _imported(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime -m registry ARGS``: the process and the modules it imported."""
    proc = registry(tmp_path, *args, env={"PYTHONPROFILEIMPORTTIME": "1", "COLUMNS": "200"})
    modules = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    assert modules, proc.stderr
    return proc, modules


@pytest.mark.parametrize("args", [("--help",), (), ("lists", "--help"), ("db", "--help"),
                                  ("import", "gso", "--help"), ("changeset", "show", "--help"),
                                  ("token", "create", "--help"), ("demo", "--help")])
def test_help_imports_no_database_layer(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc, modules = _imported(tmp_path, *args)
    assert proc.returncode == (2 if not args else 0), proc.stderr
    assert "Usage: registry" in proc.stdout
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_a_command_imports_its_own_module_only(tmp_path: Path) -> None:
    proc, modules = _imported(tmp_path, "lists", "--db", "missing.db")
    assert proc.returncode == 1
    assert "registry.cli.entries" in modules
    assert not modules & (set(COMMAND_MODULES) - {"registry.cli.entries"})
    proc, modules = _imported(tmp_path, "import", "gso", "--help")
    assert {"registry.cli.changesets", "registry.importers.commands"} <= modules
    assert "registry.importers.convert_command" not in modules


def test_a_lazily_loaded_command_keeps_db_and_one_line_errors(tmp_path: Path) -> None:
    assert_one_line_error(registry(tmp_path, "lists", "--db", "missing.db"),
                          "database file 'missing.db' does not exist")
    proc = registry(tmp_path, "lists", "--nope")
    assert proc.returncode == 2
    assert_one_line_error(proc, "No such option: --nope", "see 'registry lists --help'")
    proc = registry(tmp_path, "liss")
    assert proc.returncode == 2
    assert_one_line_error(proc, "No such command 'liss'. Did you mean 'lists'?")
    # Commands that name their own database take no --db, loaded lazily or not.
    proc = registry(tmp_path, "graphql-schema", "--db", "x.db")
    assert proc.returncode == 2
    assert_one_line_error(proc, "No such option: --db")
    assert not any(tmp_path.iterdir())
