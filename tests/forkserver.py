"""A pre-loaded Python that forks a real process per ``python -m …`` or ``python -c …``.

Starting Python and importing the registry costs about half a second of CPU per process,
and the suite starts hundreds of them (commands, centres, relays). This server imports
the registry once; each request forks a child that takes the caller's standard streams,
working directory, environment and arguments, and runs the module or code as
``python -m``/``-c`` would. The child is a separate process with its own pid, exit status
and signals; what it does not repeat is the interpreter's start and the imports.

Protocol, one Unix-socket connection per child: the client sends a JSON request with its
three standard descriptors attached; the server answers the child's pid as a line, then,
when the child ends, its raw wait status as a line, and closes the connection.

Run as ``python -m tests.forkserver SOCKET``; it prints ``ready`` and serves until its
standard input closes (its parent, the test process, has gone).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import json
import locale
import os
import random
import runpy
import selectors
import signal
import socket
import sqlite3
import sys
import traceback
from typing import Any


def _preload() -> None:
    """Import every registry module (but ``__main__``) and the servers the tests start."""
    import importlib
    import pkgutil

    import registry

    for module in pkgutil.walk_packages(registry.__path__, "registry."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    for name in ("uvicorn.main", "uvicorn.protocols.http.httptools_impl",
                 "uvicorn.protocols.http.h11_impl", "uvicorn.lifespan.on", "uvicorn.loops.auto"):
        importlib.import_module(name)


def _streams(env: dict[str, str]) -> None:
    """Standard streams as a fresh interpreter would open them on the new descriptors."""
    encoding = env.get("PYTHONIOENCODING", "").split(":")[0] or (
        "utf-8" if env.get("PYTHONUTF8") == "1" else locale.getpreferredencoding(False))
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))

    def text(fd: int, mode: str, errors: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        tty = raw.isatty()
        buffered: Any = (io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw))
        return io.TextIOWrapper(buffered, encoding=encoding, errors=errors,
                                line_buffering=tty or (unbuffered and mode == "w"),
                                write_through=mode == "w" and (unbuffered or fd == 2))

    sys.stdin = sys.__stdin__ = text(0, "r", "strict")
    sys.stdout = sys.__stdout__ = text(1, "w", "strict")
    sys.stderr = sys.__stderr__ = text(2, "w", "backslashreplace")


def _exit_code(code: object) -> int:
    """What the interpreter makes of ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


# The child's ``__main__`` namespace, alive until the end as the interpreter keeps it (what
# it holds, such as an open SQLite connection, is closed by :func:`_finish`).
_MAIN: dict[str, Any] = {"__name__": "__main__"}


# Every SQLite connection the child opens, to be closed at its end (a search of the heap
# would cost as much as the teardown it replaces).
_SQLITE: list[sqlite3.Connection] = []


def _connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    connection = _OPEN_SQLITE(*args, **kwargs)
    _SQLITE.append(connection)
    return connection


_OPEN_SQLITE = sqlite3.connect

# Signals whose disposition a child inherits from its caller (a shell without job control
# starts its background commands with SIGINT and SIGQUIT ignored, nohup adds SIGHUP).
INHERITED_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)


def _child(request: dict[str, Any], fds: list[int]) -> int:
    """In the forked child: become the requested process and run it; its exit code."""
    sqlite3.connect = _connect  # type: ignore[assignment]
    if request.get("new_session"):
        os.setsid()
    for sig in INHERITED_SIGNALS:
        # As across exec: what the caller ignores stays ignored, the rest is reset (and
        # SIGINT raises KeyboardInterrupt, as Python sets it up at start).
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        signal.signal(sig, signal.SIG_IGN if sig in request.get("ignored", ()) else default)
    for target, fd in enumerate(fds):
        os.dup2(fd, target, inheritable=True)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    random.seed()  # a fresh process draws its own numbers
    _streams(request["env"])
    argv: list[str] = request["argv"]
    # sys.path as the interpreter would set it: the working directory ('' for -c), then
    # PYTHONPATH, then what the server had after its own first entry (the checkout).
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:1] = ["" if argv[0] == "-c" else os.getcwd(), *extra]
    try:
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            _MAIN.update(runpy.run_module(argv[1], run_name="__main__", alter_sys=True))
        else:
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), _MAIN)
        return 0
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        return -signal.SIGINT  # Python ends by the signal itself: its parent sees -2
    except BaseException:
        traceback.print_exc()
        return 1


class _Server:
    def __init__(self, path: str) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector through the fd
        self.children: dict[int, socket.socket] = {}

    def serve(self) -> int | None:
        """Serve until stdin closes (None); in a child, its exit code."""
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ, "accept")
        selector.register(self.wake_read, selectors.EVENT_READ, "reap")
        selector.register(sys.stdin, selectors.EVENT_READ, "parent")
        print("ready", flush=True)
        while True:
            for key, _ in selector.select():
                if key.data == "parent":
                    return None
                if key.data == "reap":
                    os.read(self.wake_read, 4096)
                    self._reap()
                    continue
                connection, _ = self.listener.accept()
                code = self._spawn(connection, selector)
                if code is not None:
                    return code

    def _spawn(self, connection: socket.socket, selector: selectors.BaseSelector) -> int | None:
        message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
        request = json.loads(message)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            selector.close()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for held in (self.listener, connection, *self.children.values()):
                held.close()
            os.close(self.wake_read)
            return _child(request, fds)
        for fd in fds:
            os.close(fd)
        connection.sendall(f"{pid}\n".encode())
        self.children[pid] = connection
        self._reap()  # a child may have ended before it was registered
        return None

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = self.children.pop(pid, None)
            if connection is not None:
                with contextlib.suppress(OSError):  # the caller may have gone
                    connection.sendall(f"{status}\n".encode())
                connection.close()


def _finish(code: int) -> None:
    """End the child as the interpreter would, but without tearing down every module.

    A full shutdown of a process that imported the whole registry takes most of a second
    (every object is released, and every page it touches is copied after the fork). What
    a command can observe of that shutdown is kept: the ``atexit`` functions run, SQLite
    connections are closed (which removes their ``-wal`` and ``-shm`` files) and the
    standard streams are flushed.
    """
    atexit._run_exitfuncs()
    for held in _SQLITE:
        with contextlib.suppress(sqlite3.Error):  # one of another thread: left to the OS
            held.close()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe, as at any exit
            stream.flush()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def main() -> None:
    _preload()
    gc.freeze()  # what was imported stays out of the children's collections
    code = _Server(sys.argv[1]).serve()
    if code is not None:
        _finish(code)


if __name__ == "__main__":
    main()
