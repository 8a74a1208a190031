"""A real nginx, configured from deploy/nginx/registry.conf, as a child process.

Everything it writes (pid, logs, temporary files, the cache) stays in one directory; it
listens on a free loopback port and is stopped by its process id. Used by the tests in
this folder and by ``bench/cache_bench.py``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from tests.processes import stop_child

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "registry.conf"
CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def nginx_binary() -> str | None:
    """The nginx executable, or ``None`` when it is not installed."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)


def renderer() -> ModuleType:
    """deploy/nginx/render.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("registry_nginx_render",
                                                  ROOT / "deploy" / "nginx" / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Nginx:
    """nginx in front of ``nodes`` (host:port), in ``directory``."""

    binary: str
    directory: Path
    nodes: list[str]
    anonymous_read: bool = True
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        """The base URL clients use."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        """One line per request, with ``cache=<$upstream_cache_status>``."""
        return self.directory / "access.log"

    def write_config(self) -> Path:
        """Render the template and the small main file around it; return the main file."""
        return renderer().standalone(self.directory, listen=f"127.0.0.1:{self.port}",
                                     nodes=self.nodes, anonymous_read=self.anonymous_read)

    def start(self) -> None:
        """Check the configuration, start nginx and wait until it accepts connections."""
        config = self.write_config()
        args = [self.binary, "-p", str(self.directory), "-c", str(config)]
        checked = subprocess.run([*args, "-t", "-q"], capture_output=True, text=True)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx refuses the configuration: {checked.stderr}")
        log = open(self.directory / "nginx.out", "ab")  # noqa: SIM115 (kept by Popen)
        self.process = subprocess.Popen([*args, "-g", "daemon off;"], stdout=log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: see {self.directory / 'error.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start in 10 s")

    def stop(self) -> None:
        """Stop nginx (this process's own child, by its id)."""
        stop_child(self.process)
        self.process = None

    def log_lines(self) -> list[str]:
        """The access log so far."""
        return (self.access_log.read_text("utf-8").splitlines()
                if self.access_log.exists() else [])
