"""``registry db upgrade`` against a server database that does not exist: said, then --create.

Real PostgreSQL and MariaDB servers; each test makes a uniquely named database, dropped at
the end of the test (MariaDB) or of the run (PostgreSQL: see ``tests.conftest.drop_later``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy_utils import database_exists, drop_database

from tests.cli.helpers import assert_one_line_error, registry, tree
from tests.conftest import PG_SERVER, drop_later

MARIADB_SERVER = os.environ.get("REGISTRY_TEST_MARIADB",
                                "mysql+pymysql://root@127.0.0.1:3306")


@pytest.fixture
def pg_url(shared_dir: Path) -> str:
    url = f"{PG_SERVER}/registry_cli_{uuid.uuid4().hex[:12]}"
    drop_later(shared_dir, url)
    return url


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    url = f"{MARIADB_SERVER}/registry_cli_{uuid.uuid4().hex[:12]}"
    yield url
    if database_exists(url):
        drop_database(url)


def test_postgresql_database_is_created_only_when_asked(pg_url: str, tmp_path: Path) -> None:
    name = pg_url.rsplit("/", 1)[1]
    assert_one_line_error(registry(tmp_path, "db", "upgrade", "--db", pg_url),
                          f"database '{name}' does not exist on the postgresql server "
                          "127.0.0.1:5432", "'registry db upgrade --create --db ")
    assert not database_exists(pg_url)
    assert_one_line_error(registry(tmp_path, "lists", "--db", pg_url),
                          f"database '{name}' does not exist", "--create")
    assert not database_exists(pg_url)
    proc = registry(tmp_path, "db", "upgrade", "--create", "--db", pg_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"created database {pg_url}\nschema empty → ")
    proc = registry(tmp_path, "lists", "--json", "--db", pg_url)
    assert proc.returncode == 0 and "admin-units" in {d["key"] for d in json.loads(proc.stdout)}
    # Again: nothing to create, the schema is current.
    proc = registry(tmp_path, "db", "upgrade", "--create", "--db", pg_url)
    assert proc.returncode == 0 and "created" not in proc.stdout and "up to date" in proc.stdout
    assert tree(tmp_path) == {}


def test_mariadb_is_named_as_a_replica_store_and_nothing_is_created(
    mariadb_url: str, tmp_path: Path,
) -> None:
    name = mariadb_url.rsplit("/", 1)[1]
    assert_one_line_error(registry(tmp_path, "lists", "--db", mariadb_url),
                          f"database '{name}' does not exist on the mysql server "
                          "127.0.0.1:3306")
    for create in ((), ("--create",)):
        assert_one_line_error(registry(tmp_path, "db", "upgrade", *create, "--db", mariadb_url),
                              "the registry's own database is PostgreSQL or SQLite",
                              "registry sync pull --into")
        assert not database_exists(mariadb_url)
    assert tree(tmp_path) == {}
