"""Render deploy/nginx/registry.conf for a set of nodes (docs/deploy-nginx.md).

    python deploy/nginx/render.py --listen 80 --node 10.0.0.11:8000 --node 10.0.0.12:8000 \\
        --cache-path /var/cache/nginx/registry > /etc/nginx/conf.d/registry.conf

Standard library only, so it runs wherever nginx is configured.
"""

from __future__ import annotations

import argparse
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
