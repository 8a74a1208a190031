"""Real ``registry`` processes in a scratch directory, and what a failure must not change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import processes


def registry(cwd: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``registry ARGS`` as a user would, in ``cwd``, without an inherited database."""
    base = {k: v for k, v in os.environ.items() if k != "REGISTRY_DATABASE_URL"}
    return processes.run([sys.executable, "-m", "registry", *args], cwd=cwd, text=True,
                          capture_output=True, env={**base, **(env or {})}, timeout=timeout)


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    """A failure: non-zero, nothing on stdout, one ``error:`` line naming ``expected``."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]
