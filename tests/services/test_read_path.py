"""The read path has one direction: graph_reads builds on queries, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

import registry.services.queries as queries


def _imports(module_file: str) -> set[str]:
    tree = ast.parse(Path(module_file).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):  # function-level imports included
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_queries_does_not_import_graph_reads() -> None:
    imported = _imports(queries.__file__)
    assert "registry.services.queries" not in imported
    assert not {name for name in imported if "graph_reads" in name}, imported
