"""What every command shares, added in one place: ``--db``, one-line usage errors, and
loading only the command that runs.

The commands of each interface are written in their own modules; this layer gives each
command that opens the database a ``--db`` option (which stands for
``REGISTRY_DATABASE_URL`` during the command), refuses to create a SQLite file by a typo,
checks the port before ``serve``, and prints typer's usage errors as one line.

The top group imports a command's module only when that command runs (or its help is
asked for); its own help lists the commands from :mod:`registry.cli.commands`.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, get_type_hints

import typer
import typer.main
from rich.markup import escape

# typer vendors click; its exceptions are public only under this name.
from typer._click.core import Command, Context
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer._click.formatting import HelpFormatter
from typer.core import TyperCommand, TyperGroup

from registry.cli.commands import BY_NAME, COMMANDS
from registry.cli.database import DB_HELP, chosen_url, require_existing
from registry.cli.network import require_free_port
from registry.cli.output import err, fail
from registry.config import DATABASE_VARIABLE

# Commands that do not open the registry's database, or name their own.
_WITHOUT_DB = {"graphql-schema", "demo", "sync"}
# Commands that may create the database they are given.
_CREATE = {("db", "upgrade")}

DbOpt = Annotated[str | None, typer.Option("--db", metavar="PATH|URL", help=DB_HELP,
                                           show_default=False)]


@contextmanager
def _database_variable(url: str) -> Iterator[None]:
    """``REGISTRY_DATABASE_URL`` is ``url`` for the command (and the servers it starts)."""
    before = os.environ.get(DATABASE_VARIABLE)
    os.environ[DATABASE_VARIABLE] = url
    try:
        yield
    finally:
        if before is None:
            del os.environ[DATABASE_VARIABLE]
        else:
            os.environ[DATABASE_VARIABLE] = before


def _check_read_settings(url: str) -> None:
    """One line, before a server starts, for standbys it could not use (registry.replicas)."""
    from registry.errors import RegistryError
    from registry.replicas import check_read_settings

    try:
        check_read_settings(url)
    except RegistryError as exc:
        fail(exc.message)


def _with_database(callback: Callable[..., Any], path: tuple[str, ...]) -> Callable[..., Any]:
    """``callback`` with a ``--db`` option; the URL is checked before the command runs."""
    signature = inspect.signature(callback, eval_str=True)
    if "db" in signature.parameters or "into" in signature.parameters:
        return callback
    hints = get_type_hints(callback, include_extras=True)
    creates = path in _CREATE

    @functools.wraps(callback)
    def run(*args: Any, db: str | None = None, **kwargs: Any) -> Any:
        url = chosen_url(db, creates)
        if not creates:
            require_existing(url)
        if path == ("serve",):
            require_free_port(kwargs["host"], kwargs["port"])
            _check_read_settings(url)
        with _database_variable(url):
            return callback(*args, **kwargs)

    parameters = [p.replace(annotation=hints.get(p.name, p.annotation))
                  for p in signature.parameters.values()]
    parameters.append(inspect.Parameter("db", inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=DbOpt))
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {**hints, "db": DbOpt}
    return run


def add_database_options(app: typer.Typer, path: tuple[str, ...] = ()) -> None:
    """Give every command of ``app`` that opens the registry's database a ``--db``."""
    for command in app.registered_commands:
        callback = command.callback
        if callback is None:
            continue
        name = command.name or callback.__name__.replace("_", "-")
        if name not in _WITHOUT_DB:
            command.callback = _with_database(callback, (*path, name))
    for group in app.registered_groups:
        if group.name not in _WITHOUT_DB and group.typer_instance is not None:
            add_database_options(group.typer_instance, (*path, group.name or ""))


def register(app: typer.Typer, spec: str) -> None:
    """Run the registering function ``spec`` names (``module`` or ``module:function``)."""
    module, _, function = spec.partition(":")
    function = function or "register"
    # The import statement's own machinery (importlib.import_module bypasses it), so that
    # ``python -X importtime`` reports the command's modules too.
    getattr(__import__(module, fromlist=[function]), function)(app)


@functools.cache
def _registered(registers: tuple[str, ...]) -> TyperGroup:
    """The commands that ``registers`` add, with ``--db``; built once per process."""
    app = typer.Typer()
    for spec in registers:
        register(app, spec)
    add_database_options(app)
    return typer.main.get_group(app)


def load_command(name: str) -> Command:
    """The top-level command ``name``, importing only the modules that register it."""
    return _registered(BY_NAME[name].registers).commands[name]


class _LazyCommands(MutableMapping[str, Command]):
    """The top group's commands: every name at once, each command when it is looked up.

    While the group's help is written (``summaries``), a command not loaded yet is a
    stand-in with its name and short help from the table, so that listing the commands
    imports none of them.
    """

    def __init__(self, loaded: MutableMapping[str, Command]) -> None:
        self._loaded = dict(loaded)
        self.summaries = False

    def __getitem__(self, name: str) -> Command:
        if name in self._loaded:
            return self._loaded[name]
        if name not in BY_NAME:
            raise KeyError(name)
        if self.summaries:
            return TyperCommand(name=name, help=BY_NAME[name].help)
        command = self._loaded[name] = load_command(name)
        return command

    def __setitem__(self, name: str, command: Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from (c.name for c in COMMANDS)
        yield from (name for name in self._loaded if name not in BY_NAME)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(name not in BY_NAME for name in self._loaded)

    def __contains__(self, name: object) -> bool:
        return name in BY_NAME or name in self._loaded


class RegistryGroup(TyperGroup):
    """The top ``registry`` group: usage errors as one ``error:`` line, not a box; each
    command's module imported only when that command is looked up."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = self._lazy = _LazyCommands(self.commands)

    def list_commands(self, ctx: Context) -> list[str]:
        """Every command's name, in the table's order, without loading any."""
        return list(self._lazy)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The group's help, listing the commands from the table."""
        self._lazy.summaries = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._lazy.summaries = False

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        def invoke() -> Any:
            return super(RegistryGroup, self).main(
                args, prog_name, complete_var, standalone_mode=False,
                windows_expand_args=windows_expand_args, **extra)

        if not standalone_mode:
            return invoke()
        try:
            result = invoke()
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except UsageError as exc:
            where = f"; see '{exc.ctx.command_path} --help'" if exc.ctx else ""
            _one_line(f"{exc.format_message()}{where}")
            sys.exit(exc.exit_code)
        except ClickException as exc:
            _one_line(exc.format_message())
            sys.exit(exc.exit_code)
        except typer.Abort:
            _one_line("aborted")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def _one_line(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False,
              markup=True, soft_wrap=True)
