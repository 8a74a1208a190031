"""Start (and tear down) the registry's scale-out topology on one machine, loopback only.

    python scripts/topology.py up   [--dir DIR] [--nodes 2] [--empty]
    python scripts/topology.py status [--dir DIR]
    python scripts/topology.py down [--dir DIR] [--keep]

``up`` brings up, each with its own directory under DIR and its own free port on
127.0.0.1:

- a PostgreSQL primary (``initdb``) and a streaming hot standby of it (``pg_basebackup -R``);
- the centre's database on the primary, migrated and loaded with the bundled national lists
  (``registry demo --no-serve``; ``--empty`` only migrates);
- NATS with JetStream (``nats-server -js``) and the broker relay (``registry broker relay``);
- N API nodes (``registry serve``) on the primary, reading from the standby
  (``REGISTRY_READ_DATABASE_URLS``);
- nginx in front of the nodes, caching what the nodes mark cacheable
  (``deploy/nginx/registry.conf``).

It writes ``DIR/topology.json`` (URLs, ports, pids) and prints it. ``down`` stops everything
``up`` started and removes DIR (``--keep`` keeps the data and the logs). A failed ``up``
tears down what it had started. The same picture on real hosts: README, "Deployment".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_cluster import Cluster, bindir, free_port, prepare_root

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = Path(tempfile.gettempdir()) / "registry-topology"
DATABASE = "registry"


@dataclass
class Process:
    """A child process the topology started: its pid, command and log file."""

    name: str
    pid: int
    url: str
    log: str


@dataclass
class Topology:
    """What ``up`` started, as written to ``topology.json``."""

    dir: str
    primary_port: int = 0
    standby_port: int = 0
    primary_url: str = ""
    standby_url: str = ""
    nats_url: str = ""
    stream: str = "REGISTRY_FEED"
    # One key for every node's web session cookies (REGISTRY_SECRET_KEY), as on real hosts:
    # a steward signed in through one node stays signed in through the others.
    secret_key: str = ""
    nginx_url: str = ""
    nodes: list[Process] = field(default_factory=list)
    others: list[Process] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path) -> Topology:
        """The topology written under ``root``."""
        data = json.loads((root / "topology.json").read_text(encoding="utf-8"))
        nodes = [Process(**p) for p in data.pop("nodes")]
        others = [Process(**p) for p in data.pop("others")]
        return cls(**data, nodes=nodes, others=others)

    def save(self) -> None:
        """Write ``topology.json``."""
        path = Path(self.dir) / "topology.json"
        path.touch(mode=0o600)  # it holds the nodes' session key
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    def primary(self) -> Cluster:
        """The primary cluster (to stop or query it)."""
        return Cluster(bindir(), Path(self.dir) / "pg", "primary", {}, self.primary_port)

    def standby(self) -> Cluster:
        """The standby cluster."""
        return Cluster(bindir(), Path(self.dir) / "pg", "standby", {}, self.standby_port)

    def process(self, name: str) -> Process:
        """A started process by name (``node-1``, ``nginx``, ``nats``, ``relay``)."""
        for found in [*self.nodes, *self.others]:
            if found.name == name:
                return found
        raise KeyError(name)


def _registry() -> list[str]:
    return [sys.executable, "-m", "registry"]


def _spawn(name: str, command: list[str], root: Path, env: dict[str, str] | None = None,
           url: str = "") -> Process:
    log = root / f"{name}.log"
    with open(log, "ab") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                 start_new_session=True, cwd=root)
    return Process(name, child.pid, url, str(log))


def _wait_http(url: str, process: Process, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if not _alive(process.pid):
                raise RuntimeError(f"{process.name} exited; see {process.log}") from None
            time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {url} within {seconds:.0f} s; "
                       f"see {process.log}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def stop_process(process: Process, timeout: float = 10) -> None:
    """SIGTERM to the process's group, then SIGKILL after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(process.pid):
                return
            time.sleep(0.05)


def node_env(topology: Topology) -> dict[str, str]:
    """The environment of an API node: the primary for writes, the standby for reads."""
    return {"REGISTRY_DATABASE_URL": topology.primary_url,
            "REGISTRY_READ_DATABASE_URLS": topology.standby_url,
            "REGISTRY_SECRET_KEY": topology.secret_key,
            "REGISTRY_WEBHOOKS": "0"}


def start_node(topology: Topology, number: int, port: int | None = None) -> Process:
    """API node ``number`` (``registry serve``) on its own port."""
    root = Path(topology.dir)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    # Each node its own fallback key file, as on separate hosts: only the shared
    # REGISTRY_SECRET_KEY lets a session cross nodes.
    env = {**node_env(topology), "REGISTRY_SECRET_FILE": str(root / f"node-{number}.key")}
    node = _spawn(f"node-{number}", [*_registry(), "serve", "--host", "127.0.0.1", "--port",
                                     str(port)], root, env, url)
    _wait_http(f"{url}/healthz", node)
    return node


def start_nginx(topology: Topology) -> Process:
    """nginx in front of the nodes (deploy/nginx/render.py), in the foreground of its own
    process group."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    spec = importlib.util.spec_from_file_location("registry_nginx_render",
                                                  REPO / "deploy" / "nginx" / "render.py")
    assert spec is not None and spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    conf = render.standalone(Path(topology.dir) / "nginx", listen=f"127.0.0.1:{port}",
                             nodes=[p.url.removeprefix("http://") for p in topology.nodes])
    url = f"http://127.0.0.1:{port}"
    process = _spawn("nginx", [nginx, "-p", str(conf.parent), "-c", str(conf), "-g",
                               "daemon off;"], Path(topology.dir), url=url)
    _wait_http(f"{url}/healthz", process)
    return process


def start_nats(topology: Topology, port: int | None = None) -> Process:
    """nats-server with JetStream, its store under the topology's directory (``port``: to
    start it again where it was)."""
    server = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = port or free_port()
    store = Path(topology.dir) / "nats"
    store.mkdir(exist_ok=True)
    process = _spawn("nats", [server, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd",
                              str(store)], Path(topology.dir), url=f"nats://127.0.0.1:{port}")
    deadline = time.monotonic() + 20
    import socket
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    raise RuntimeError(f"nats-server did not listen on {port}; see {process.log}")


def start_relay(topology: Topology) -> Process:
    """The broker relay: every release's records into the JetStream stream."""
    return _spawn("relay", [*_registry(), "broker", "relay", "--url", topology.nats_url,
                            "--stream", topology.stream], Path(topology.dir),
                  {"REGISTRY_DATABASE_URL": topology.primary_url}, topology.nats_url)


def wait_replayed(topology: Topology, seconds: float = 30) -> None:
    """Until the standby has replayed everything the primary has written."""
    primary, standby = topology.primary(), topology.standby()
    target = primary.scalar("SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if standby.scalar(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
            return
        time.sleep(0.05)
    raise RuntimeError("the standby did not catch up with the primary")


def up(root: Path, nodes: int = 2, empty: bool = False, broker: bool = True,
       nginx: bool = True, say: bool = True) -> Topology:
    """Start everything; on failure stop what was started and raise."""
    if (root / "topology.json").exists():
        raise SystemExit(f"{root} already holds a topology: 'down --dir {root}' first")
    prepare_root(root)
    (root / "pg").mkdir(exist_ok=True)
    prepare_root(root / "pg")
    topology = Topology(dir=str(root), secret_key=secrets.token_urlsafe(32))
    bins = bindir()
    primary = Cluster(bins, root / "pg", "primary", {"wal_level": "replica",
                                                     "max_wal_senders": "5"})
    # Feedback keeps the primary's vacuum from removing rows a standby read still needs,
    # which would otherwise cancel that read ("conflict with recovery").
    standby = Cluster(bins, root / "pg", "standby", {"hot_standby": "on",
                                                     "hot_standby_feedback": "on"})
    topology.primary_port, topology.standby_port = primary.port, standby.port
    topology.primary_url = primary.url(DATABASE)
    topology.standby_url = standby.url(DATABASE)
    topology.save()

    def note(text: str) -> None:
        if say:
            print(text, flush=True)

    try:
        note(f"PostgreSQL primary on 127.0.0.1:{primary.port}")
        primary.start()
        primary.admin(f"CREATE DATABASE {DATABASE}")
        env = {**os.environ, "REGISTRY_DATABASE_URL": topology.primary_url}
        command = [*_registry(), "db", "upgrade"] if empty else \
            [*_registry(), "demo", "--no-serve"]
        note("the centre's database: " + ("migrating" if empty else
                                          "loading the bundled national lists"))
        subprocess.run(command, env=env, cwd=root, check=True, capture_output=not say)
        note(f"PostgreSQL standby on 127.0.0.1:{standby.port} (pg_basebackup -R)")
        standby.init_standby_of(primary)
        standby.start()
        wait_replayed(topology)
        if broker:
            topology.others.append(start_nats(topology))
            topology.nats_url = topology.others[-1].url
            note(f"NATS JetStream on {topology.nats_url}")
            topology.others.append(start_relay(topology))
        for number in range(1, nodes + 1):
            topology.nodes.append(start_node(topology, number))
            note(f"API node {number} on {topology.nodes[-1].url}")
            topology.save()
        if nginx:
            topology.others.append(start_nginx(topology))
            topology.nginx_url = topology.others[-1].url
            note(f"nginx on {topology.nginx_url}")
        topology.save()
    except BaseException:
        down(root, keep=True, say=say)
        raise
    return topology


def down(root: Path, keep: bool = False, say: bool = True) -> None:
    """Stop everything ``up`` started under ``root``; remove it unless ``keep``."""
    if not (root / "topology.json").exists():
        if say:
            print(f"nothing to stop under {root}")
        return
    topology = Topology.load(root)
    for process in [*reversed(topology.others), *topology.nodes]:
        stop_process(process)
    for cluster in (topology.standby(), topology.primary()):
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop("fast")
    if keep:
        (root / "topology.json").rename(root / "topology.stopped.json")
    else:
        shutil.rmtree(root, ignore_errors=True)
    if say:
        print(f"stopped the topology under {root}" + (" (kept)" if keep else ""))


def status(root: Path) -> dict[str, object]:
    """Each component: up or not."""
    topology = Topology.load(root)
    found: dict[str, object] = {}
    for process in [*topology.nodes, *topology.others]:
        found[process.name] = {"url": process.url, "running": _alive(process.pid)}
    for cluster in (topology.primary(), topology.standby()):
        found[cluster.name] = {"port": cluster.port,
                               "running": (cluster.data / "postmaster.pid").exists()}
    return found


def main() -> None:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help=f"where everything lives (default {DEFAULT_DIR})")
    parser.add_argument("--nodes", type=int, default=2, help="API nodes (default 2)")
    parser.add_argument("--empty", action="store_true",
                        help="migrate only; do not load the bundled lists")
    parser.add_argument("--keep", action="store_true", help="down: keep data and logs")
    args = parser.parse_args()
    root = args.dir.resolve()
    if args.action == "up":
        topology = up(root, args.nodes, args.empty)
        shown = {**asdict(topology), "secret_key": f"(in {root / 'topology.json'})"}
        print(json.dumps(shown, indent=2))
    elif args.action == "down":
        down(root, args.keep)
    else:
        print(json.dumps(status(root), indent=2))


if __name__ == "__main__":
    main()
