"""Child processes the tests start (servers, nginx, commands): started and stopped."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from tests.forkserver import INHERITED_SIGNALS


def stop_child(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 10 s, if it still runs."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Python children through a pre-loaded fork server (tests/forkserver.py): the same process
# a ``subprocess`` call would start, without paying for the interpreter and the imports.

_SERVER: dict[str, Any] = {}
CHECKOUT = Path(__file__).resolve().parent.parent
# The server's environment, fixed when the tests start (a test may change os.environ later;
# what the server imported was read with these values).
SERVED_ENV = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


_STARTING = threading.Lock()


def _forkserver() -> str:
    """The socket of this test process's fork server, started on first use (and again if
    it has gone)."""
    with _STARTING:
        server = _SERVER.get("server")
        if _SERVER.get("pid") != os.getpid() or server is None or server.poll() is not None:
            _start_forkserver()
        return str(_SERVER["path"])


def _start_forkserver() -> None:
    directory = tempfile.mkdtemp(prefix="forkserver-")
    path = os.path.join(directory, "socket")
    server = subprocess.Popen([sys.executable, "-m", "tests.forkserver", path],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=SERVED_ENV,
                              cwd=CHECKOUT)
    assert server.stdout is not None
    atexit.register(_stop_forkserver, server, directory)
    if server.stdout.readline() != b"ready\n":
        raise RuntimeError("the fork server did not start (its error is above)")
    _SERVER.update(pid=os.getpid(), path=path, server=server)


def _stop_forkserver(server: subprocess.Popen[bytes], directory: str) -> None:
    if server.stdin is not None:
        server.stdin.close()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    shutil.rmtree(directory, ignore_errors=True)


class ForkedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen`` for ``[sys.executable, "-m"|"-c", …]`` through the fork server.

    Everything but starting and waiting is Popen's own: pipes, text mode, ``communicate``,
    timeouts, signals (the child's pid is a real pid).
    """

    def _execute_child(self, args: Any, executable: Any, preexec_fn: Any, close_fds: Any,
                       pass_fds: Any, cwd: Any, env: Any, startupinfo: Any,
                       creationflags: Any, shell: Any, p2cread: int, p2cwrite: int,
                       c2pread: int, c2pwrite: int, errread: int, errwrite: int,
                       restore_signals: Any, gid: Any, gids: Any, uid: Any, umask: Any,
                       start_new_session: bool, process_group: Any) -> None:
        assert preexec_fn is None and not pass_fds and not shell
        fds = [p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1,
               errwrite if errwrite != -1 else 2]
        request = {"argv": [str(a) for a in args[1:]],
                   "cwd": os.path.abspath(cwd if cwd is not None else os.getcwd()),
                   "env": dict(env if env is not None else os.environ),
                   "new_session": bool(start_new_session),
                   # exec keeps an ignored signal ignored: so does the fork server's child
                   "ignored": [int(sig) for sig in INHERITED_SIGNALS
                               if signal.getsignal(sig) == signal.SIG_IGN]}
        self._channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._channel.connect(_forkserver())
        socket.send_fds(self._channel, [json.dumps(request).encode()], fds)
        self._received = b""
        pid = self._line(block=True)
        if pid is None:
            raise RuntimeError("the fork server closed the connection before the child ran")
        self.pid = pid
        self._child_created = True
        for fd, opened in ((p2cread, p2cwrite), (c2pwrite, c2pread), (errwrite, errread)):
            if fd != -1 and opened != -1:
                os.close(fd)
        self._closed_child_pipe_fds = True

    def _line(self, block: bool) -> int | None:
        """The next number the server sends; None when none has come yet or it has gone."""
        self._channel.setblocking(block)
        while b"\n" not in self._received:
            try:
                chunk = self._channel.recv(64)
            except BlockingIOError:
                return None
            if not chunk:
                return None
            self._received += chunk
        line, self._received = self._received.split(b"\n", 1)
        return int(line)

    def _status(self, block: bool) -> int | None:
        status = self._line(block)
        if status is None and block:
            status = 255 << 8  # the server has gone: report a failure, never hang
        if status is not None:
            self._channel.close()
        return status

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        status = self._status(block=not wait_flags & os.WNOHANG)
        return (0, 0) if status is None else (self.pid, status)

    def _internal_poll(self, _deadstate: int | None = None, **_: Any) -> int | None:
        if self.returncode is None and self._waitpid_lock.acquire(False):
            try:
                if self.returncode is None:
                    status = self._status(block=False)
                    if status is not None:
                        self._handle_exitstatus(status)
            finally:
                self._waitpid_lock.release()
        return self.returncode


# Read when a module is imported (the fork server imported them with its own values: the
# limits, prometheus's value class, the command line's rich consoles), or when the
# interpreter starts: a child that sets one of these differently is started anew.
READ_AT_IMPORT = ("REGISTRY_MAX_", "REGISTRY_GAZETTEER_CACHE", "PROMETHEUS_", "PYTHON",
                  "COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "TTY_")


def _forkable(args: Any, env: dict[str, str] | None) -> bool:
    if not (isinstance(args, list | tuple) and len(args) >= 3 and args[0] == sys.executable
            and args[1] in ("-m", "-c")) or os.environ.get("TESTS_NO_FORKSERVER"):
        return False
    wanted = dict(env if env is not None else os.environ)
    served = dict(SERVED_ENV)
    # The server opens the standard streams as these ask, and runs from the checkout.
    for handled in ("PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONUTF8"):
        served[handled] = wanted.get(handled, "")
        wanted[handled] = served[handled]
    if wanted.get("PYTHONPATH") == str(CHECKOUT):
        wanted["PYTHONPATH"] = served.get("PYTHONPATH", "")
        served["PYTHONPATH"] = wanted["PYTHONPATH"]
    return all(wanted.get(k) == served.get(k) for k in {*wanted, *served}
               if k.startswith(READ_AT_IMPORT))


def popen(args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen``, through the fork server for Python children."""
    if _forkable(args, kwargs.get("env")):
        return ForkedPopen(args, **kwargs)
    return subprocess.Popen(args, **kwargs)


def run(args: Any, *, input: Any = None, timeout: float | None = None, check: bool = False,
        capture_output: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run``, through the fork server for Python children."""
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    with popen(args, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        except BaseException:
            process.kill()
            raise
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check:
        done.check_returncode()
    return done
