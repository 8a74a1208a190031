"""Whether a server can listen where it was asked to, checked before anything is printed."""

from __future__ import annotations

import socket

from registry.cli.output import fail


def require_free_port(host: str, port: int) -> None:
    """Fail with one line unless ``host:port`` can be listened on now."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fail(f"host '{host}' cannot be listened on: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn does: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            fail(f"port {port} on {host} is in use ({exc.strerror}); stop what listens there "
                 "or give another --port")
