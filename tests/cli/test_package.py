"""The command line as a package: its output helpers stand alone, its entry points work."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points


def test_output_helpers_do_not_build_the_command_line() -> None:
    code = ("import sys, registry.cli.output, registry.cli.database; "
            "loaded = [m for m in ('registry.cli.program', 'registry.graphql.commands', "
            "'registry.importers.commands', 'registry.sync.commands') if m in sys.modules]; "
            "assert not loaded, loaded")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_the_console_script_and_python_m_registry() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "registry"]
    assert script.value == "registry.cli:main"
    assert callable(script.load())
    proc = subprocess.run([sys.executable, "-m", "registry", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "Usage: registry" in proc.stdout
