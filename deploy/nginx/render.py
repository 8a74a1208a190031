"""Render deploy/nginx/registry.conf for a set of nodes (docs/deploy-nginx.md).

    python deploy/nginx/render.py --listen 80 --node 10.0.0.11:8000 --node 10.0.0.12:8000 \\
        --cache-path /var/cache/nginx/registry > /etc/nginx/conf.d/registry.conf

Standard library only, so it runs wherever nginx is configured.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "registry.conf"
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")


def render(template: str, *, listen: str, nodes: list[str], cache_path: str,
           access_log: str, anonymous_read: bool, cache_max_size: str = "10g") -> str:
    """The configuration for ``nodes``; every placeholder must be filled."""
    if not nodes:
        raise ValueError("give at least one node (host:port)")
    values = {"@LISTEN@": listen, "@CACHE_PATH@": cache_path,
              "@CACHE_MAX_SIZE@": cache_max_size, "@ACCESS_LOG@": access_log,
              "@ANONYMOUS_READ@": "1" if anonymous_read else "0"}
    lines = []
    for line in template.splitlines(keepends=True):
        if line.lstrip().startswith("#"):
            lines.append(line)  # the comments name the placeholders
            continue
        if "@NODE@" in line:
            lines.extend(line.replace("@NODE@", node) for node in nodes)
            continue
        for name, value in values.items():
            line = line.replace(name, value)
        left = _PLACEHOLDER.search(line)
        if left:
            raise ValueError(f"unknown placeholder {left.group()} in: {line.strip()}")
        lines.append(line)
    return "".join(lines)


def standalone(directory: Path, *, listen: str, nodes: list[str], anonymous_read: bool = True,
               cache_max_size: str = "1g") -> Path:
    """A whole nginx configuration in ``directory`` for a private nginx (tests, the local
    topology of scripts/topology.py): pid, logs, temporary files and the cache all inside
    it. Returns the main file, for ``nginx -p DIRECTORY -c FILE``."""
    d = directory
    for sub in ("cache", "temp/body", "temp/proxy", "temp/fastcgi", "temp/uwsgi",
                "temp/scgi"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    site = render(TEMPLATE.read_text("utf-8"), listen=listen, nodes=nodes,
                  cache_path=str(d / "cache"), access_log=str(d / "access.log"),
                  anonymous_read=anonymous_read, cache_max_size=cache_max_size)
    (d / "registry.conf").write_text(site, "utf-8")
    # As root, nginx's workers would switch to an unprivileged user that cannot write
    # into a private directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main_file = (f"{user}worker_processes 1;\npid {d / 'nginx.pid'};\n"
                 f"error_log {d / 'error.log'} warn;\n"
                 "events { worker_connections 4096; }\n"
                 "http {\n"
                 f"    client_body_temp_path {d / 'temp/body'};\n"
                 f"    proxy_temp_path {d / 'temp/proxy'};\n"
                 f"    fastcgi_temp_path {d / 'temp/fastcgi'};\n"
                 f"    uwsgi_temp_path {d / 'temp/uwsgi'};\n"
                 f"    scgi_temp_path {d / 'temp/scgi'};\n"
                 f"    access_log {d / 'other-access.log'};\n"
                 f"    include {d / 'registry.conf'};\n"
                 "}\n")
    path = d / "nginx.conf"
    path.write_text(main_file, "utf-8")
    return path


def main() -> None:
    """Command line: print the rendered configuration."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default="80")
    parser.add_argument("--node", action="append", required=True, help="host:port, repeated")
    parser.add_argument("--cache-path", default="/var/cache/nginx/registry")
    parser.add_argument("--cache-max-size", default="10g")
    parser.add_argument("--access-log", default="/var/log/nginx/registry-access.log")
    parser.add_argument("--anonymous-read", choices=["0", "1"], default="1",
                        help="the nodes' REGISTRY_ANONYMOUS_READ")
    args = parser.parse_args()
    sys.stdout.write(render(TEMPLATE.read_text("utf-8"), listen=args.listen, nodes=args.node,
                            cache_path=args.cache_path, access_log=args.access_log,
                            anonymous_read=args.anonymous_read == "1",
                            cache_max_size=args.cache_max_size))


if __name__ == "__main__":
    main()
