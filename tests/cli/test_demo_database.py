"""After ``registry demo``, the commands it and the README suggest find the demo's database.

Real processes in a scratch directory with no ``REGISTRY_DATABASE_URL``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, registry, tree
from tests.conftest import Templates


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, templates: Templates) -> Path:
    root = tmp_path_factory.mktemp("demo")
    # The run's loaded bundle as the demo's file: ``demo`` finds it loaded and reuses it.
    # Its first load is the subject of tests/services/test_bundled_demo.py and of the
    # walkthrough; here the subject is what comes after.
    shutil.copyfile(templates.template_url("sqlite", "bundled").removeprefix("sqlite:///"),
                    root / "registry-demo.db")
    proc = registry(root, "demo", "--no-serve")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("database: sqlite:///registry-demo.db\n")
    assert "were already loaded: reusing the database" in proc.stdout, proc.stdout
    return root


def test_commands_without_db_use_the_demo_database(demo_dir: Path) -> None:
    proc = registry(demo_dir, "resolve", "admin-units", "00013", "--as-of", "2025-07-01")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("00013 (Phường Quán Thánh) ended on 2025-07-01")
    # A token made as the README says is one the demo's web UI accepts.
    proc = registry(demo_dir, "token", "create", "--name", "hoa.nguyen", "--role", "steward")
    assert proc.returncode == 0, proc.stderr
    proc = registry(demo_dir, "token", "list", "--json", "--db", "registry-demo.db")
    assert [t["name"] for t in json.loads(proc.stdout)] == ["hoa.nguyen"]
    assert sorted(p for p in tree(demo_dir) if not p.endswith(("-wal", "-shm"))) == [
        "registry-demo.db"]


def test_a_registry_of_ones_own_comes_first(demo_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.importers.demo import db_option

    monkeypatch.chdir(demo_dir)
    monkeypatch.delenv("REGISTRY_DATABASE_URL", raising=False)
    assert db_option("sqlite:///registry-demo.db") == ""
    # db upgrade always means registry.db; from then on the commands use it, and the demo
    # names its file in the commands it prints.
    proc = registry(demo_dir, "db", "upgrade")
    assert proc.returncode == 0 and "schema empty" in proc.stdout, proc.stderr
    assert (demo_dir / "registry.db").exists()
    assert db_option("sqlite:///registry-demo.db") == " --db registry-demo.db"
    assert_one_line_error(registry(demo_dir, "resolve", "admin-units", "00013"),
                          "no entry '00013'")
    proc = registry(demo_dir, "resolve", "admin-units", "00013", "--as-of", "2025-07-01",
                    "--db", "registry-demo.db")
    assert proc.returncode == 0, proc.stderr
