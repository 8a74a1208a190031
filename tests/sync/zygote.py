"""A pre-loaded launcher of client processes, for the crash test.

Importing the client takes about a second, so a client started and killed at a random
moment would mostly be killed while importing. This process imports it once and forks a
fresh, real client process per line of JSON arguments read on stdin, printing the child's
pid; the test kills that pid. It holds no database connection, so children share nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sys

# The command imports what it runs inside its body (so that ``registry --help`` is quick):
# import the client and its stores here, once, or each child would import them itself.
import registry.sync.client
import registry.sync.local_store  # noqa: F401
from registry.sync.commands import sync_app


def main() -> None:
    """Serve fork requests until stdin closes."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(log, 2)
                os.dup2(log, 1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                sync_app(request["args"], prog_name="registry sync")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                os._exit(code)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
