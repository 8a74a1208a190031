"""Private PostgreSQL clusters on loopback: a primary, streaming standbys of it.

Each cluster lives in its own data directory under a root directory, listens on 127.0.0.1
on a free port, and keeps its socket in the root. Server tools run as the ``postgres``
user when this runs as root (initdb refuses root). Used by ``scripts/topology.py``, its
tests, and ``bench/peer_logical.py``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psycopg


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bindir() -> Path:
    """The PostgreSQL server binaries: ``pg_config --bindir``, else the newest Debian one."""
    found = shutil.which("pg_config")
    if found:
        path = Path(subprocess.run([found, "--bindir"], capture_output=True, text=True,
                                   check=True).stdout.strip())
        if (path / "initdb").exists():
            return path
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parent.parent.name))
    if not candidates:
        raise SystemExit("no PostgreSQL server binaries (initdb) found")
    return Path(candidates[-1]).parent


def as_postgres(command: list[str], cwd: Path) -> str:
    """Run a server tool as the ``postgres`` OS user (initdb refuses root); its stdout."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def prepare_root(root: Path) -> None:
    """Make ``root`` and let the ``postgres`` user write into it."""
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    os.chmod(root, 0o755)


class Cluster:
    """A private PostgreSQL cluster in ``root/name``, on a loopback port."""

    def __init__(self, bins: Path, root: Path, name: str, settings: dict[str, str],
                 port: int | None = None) -> None:
        self.bins, self.root, self.name, self.settings = bins, root, name, settings
        self.data = root / name
        self.port = port or free_port()
        self.started = False

    def init(self) -> None:
        """initdb with trust authentication (loopback only) and the settings."""
        as_postgres([str(self.bins / "initdb"), "-D", str(self.data), "-U", "postgres",
                     "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], self.root)
        self._configure()

    def init_standby_of(self, primary: Cluster) -> None:
        """A streaming hot standby of ``primary``: a base backup that follows it (-R)."""
        as_postgres([str(self.bins / "pg_basebackup"), "-D", str(self.data), "-h", "127.0.0.1",
                     "-p", str(primary.port), "-U", "postgres", "-R", "-X", "stream",
                     "-c", "fast", "--no-sync"], self.root)
        self._configure()

    def _configure(self) -> None:
        settings = {"listen_addresses": "'127.0.0.1'", **self.settings}
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        """initdb (unless the data directory exists), then pg_ctl start."""
        if not self.data.exists():
            self.init()
        self.started = True  # from here on, stop() is attempted whatever happens
        as_postgres([str(self.bins / "pg_ctl"), "-D", str(self.data), "-o",
                     f"-p {self.port} -k {self.root}", "-l", str(self.root / f"{self.name}.log"),
                     "-w", "start"], self.root)

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop, if it was started and still runs."""
        if (self.data / "postmaster.pid").exists():
            try:
                as_postgres([str(self.bins / "pg_ctl"), "-D", str(self.data), "-m", mode,
                             "-w", "stop"], self.root)
            except RuntimeError as exc:
                print(f"  warning: {exc}", file=sys.stderr)
        self.started = False

    def conninfo(self, db: str = "postgres") -> str:
        """libpq connection string over TCP loopback."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={db}"

    def url(self, db: str) -> str:
        """SQLAlchemy URL of a database of this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def admin(self, sql: str, db: str = "postgres") -> None:
        """One statement in autocommit (CREATE/DROP DATABASE, subscriptions)."""
        with psycopg.connect(self.conninfo(db), autocommit=True) as conn:
            conn.execute(sql)

    def scalar(self, sql: str, db: str = "postgres") -> object:
        """The first column of the first row of ``sql``."""
        with psycopg.connect(self.conninfo(db), autocommit=True) as conn:
            row = conn.execute(sql).fetchone()
        return None if row is None else row[0]

    def psql(self, db: str, script: str) -> None:
        """Run a SQL script with psql (pg_dump output holds psql meta-commands)."""
        done = subprocess.run([str(self.bins / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                               "-d", self.conninfo(db), "-f", "-"], input=script,
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"psql failed: {done.stderr}")
