"""The fork server the tests start Python children through behaves as a fresh interpreter
would, and hands back to one whenever it could not."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import processes
from tests.processes import ForkedPopen


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_child_gets_its_own_arguments_directory_environment_and_streams(
        tmp_path: Path) -> None:
    code = ("import os, sys; print(sys.argv[1:], os.getcwd(), os.environ.get('ONLY_HERE'));"
            "print(sys.stdin.read().upper(), file=sys.stderr); sys.exit(7)")
    done = processes.run([*_python(code), "a", "b"], cwd=tmp_path, input="xin chào",
                         env={"ONLY_HERE": "yes", "PATH": os.environ["PATH"]},
                         capture_output=True, text=True, timeout=60)
    assert done.returncode == 7
    assert done.stdout == f"['a', 'b'] {tmp_path} yes\n"
    assert done.stderr == "XIN CHÀO\n"
    assert "ONLY_HERE" not in os.environ


def test_a_module_runs_as_main_and_a_failure_is_a_traceback_and_exit_1(tmp_path: Path) -> None:
    done = processes.run([sys.executable, "-m", "registry", "lists", "--db",
                          str(tmp_path / "none.db")], capture_output=True, text=True,
                         timeout=60)
    assert done.returncode == 1 and done.stderr.startswith("error: database file")
    assert not (tmp_path / "none.db").exists()
    crashed = processes.run(_python("raise ValueError('boom')"), capture_output=True,
                            text=True, timeout=60)
    assert crashed.returncode == 1
    assert "Traceback" in crashed.stderr and "ValueError: boom" in crashed.stderr


def test_children_are_forked_with_real_pids_signals_and_timeouts() -> None:
    child = processes.popen(_python("import time; time.sleep(60)"))
    assert isinstance(child, ForkedPopen)
    assert child.pid != os.getpid() and Path(f"/proc/{child.pid}").exists()
    assert child.poll() is None
    child.send_signal(signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL
    with pytest.raises(subprocess.TimeoutExpired):
        processes.run(_python("import time; time.sleep(60)"), timeout=0.5)


def test_sqlite_files_are_closed_at_exit(tmp_path: Path) -> None:
    """The child skips the interpreter's teardown, but not closing SQLite (its -wal and
    -shm files go away as they would)."""
    db = tmp_path / "x.db"
    code = (f"import sqlite3; c = sqlite3.connect({str(db)!r}); "
            "c.execute('PRAGMA journal_mode=WAL'); c.execute('CREATE TABLE t (a)'); "
            "c.execute('INSERT INTO t VALUES (1)'); c.commit(); keep = c")
    done = processes.run(_python(code), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]
    assert sqlite3.connect(db).execute("SELECT a FROM t").fetchall() == [(1,)]


@pytest.mark.parametrize("variable", ["REGISTRY_MAX_GRAPHQL_DEPTH", "COLUMNS",
                                      "PROMETHEUS_MULTIPROC_DIR", "PYTHONHASHSEED"])
def test_settings_read_at_import_start_a_fresh_interpreter(variable: str) -> None:
    env = {**os.environ, variable: processes.SERVED_ENV.get(variable, "") + "3"}
    child = processes.popen(_python("pass"), env=env)
    child.wait(60)
    assert type(child) is subprocess.Popen
    forked = processes.popen(_python("pass"))
    forked.wait(60)
    assert type(forked) is ForkedPopen


def test_the_server_is_judged_by_the_environment_it_started_with(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that sets COLUMNS in its own environment gets fresh interpreters; one that
    does not, after it, gets the server again."""
    monkeypatch.setenv("COLUMNS", "33")
    child = processes.popen(_python("pass"))
    child.wait(60)
    assert type(child) is subprocess.Popen
    if "COLUMNS" in processes.SERVED_ENV:
        monkeypatch.setenv("COLUMNS", processes.SERVED_ENV["COLUMNS"])
    else:
        monkeypatch.delenv("COLUMNS")
    forked = processes.popen(_python("pass"))
    forked.wait(60)
    assert type(forked) is ForkedPopen


def test_a_fork_server_that_has_gone_is_started_again() -> None:
    processes.run(_python("pass"), timeout=60)
    gone = processes._SERVER["server"]
    gone.kill()
    gone.wait(10)
    done = processes.run(_python("print('again')"), capture_output=True, text=True,
                         timeout=60)
    assert done.stdout == "again\n"
    assert processes._SERVER["server"] is not gone


def _interrupted(start: Any, wait: float) -> tuple[int | None, str]:
    """Start a sleeping Python child with ``start``, send it SIGINT: (exit code, stderr),
    or (None, "") when it is still running ``wait`` seconds later."""
    code = "import sys, time; print('ready', flush=True); time.sleep(60)"
    child = start(_python(code), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    child.send_signal(signal.SIGINT)
    try:
        _, err = child.communicate(timeout=wait)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return None, ""
    return child.returncode, err


@pytest.fixture
def sigint(request: pytest.FixtureRequest) -> Iterator[None]:
    """This process's SIGINT disposition for the test (its children inherit it)."""
    before = signal.signal(signal.SIGINT, request.param)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("sigint", [signal.default_int_handler], indirect=True)
@pytest.mark.usefixtures("sigint")
def test_an_unhandled_interrupt_ends_the_child_by_the_signal_as_python_does() -> None:
    for start in (subprocess.Popen, processes.popen):
        code, err = _interrupted(start, 30)
        assert code == -signal.SIGINT, (start, code)
        assert "KeyboardInterrupt" in err


@pytest.mark.parametrize("sigint", [signal.SIG_IGN], indirect=True)
@pytest.mark.usefixtures("sigint")
def test_an_ignored_interrupt_stays_ignored_in_the_child_as_across_exec() -> None:
    # A shell without job control starts background commands with SIGINT ignored; a
    # forked child must not end where a fresh interpreter would go on.
    for start in (subprocess.Popen, processes.popen):
        assert _interrupted(start, 1) == (None, ""), start
