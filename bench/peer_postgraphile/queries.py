"""The three questions, as each system is asked them; bodies per key; payload normalisation.

Copied from the PostGraphile peer setup used for the side-by-side measurements
(unchanged but for this paragraph).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KEYS = json.loads(Path(__file__).with_name("keys.json").read_text())  # codes and terms asked

REGISTRY = {
    "q1": """query Q1($code: String!, $asOf: Date!) {
  entry(list: "admin-units", code: $code, asOf: $asOf) {
    code name type
    parent { code name type }
    children(first: 50) { nodes { code name type } }
  }
}""",
    "q2": """query Q2($q: String!, $asOf: Date!) {
  entries(list: "admin-units", search: $q, asOf: $asOf, first: 100) {
    nodes { code name type parent { name } }
    pageInfo { hasNextPage }
  }
}""",
    "q3": """query Q3($code: String!, $asOf: Date!) {
  resolve(list: "admin-units", code: $code, asOf: $asOf) {
    status endedOn entry { code name }
    successors { isDefault kinds entry { code name type } }
  }
}""",
}
PG5 = {
    "q1": """query Q1($code: String!, $asOf: Date!) {
  entry: entryOn(list: "admin-units", code: $code, asOf: $asOf) {
    code name type
    parent { code name type }
    children(first: 50) { nodes { code name type } }
  }
}""",
    "q2": """query Q2($q: String!, $asOf: Date!) {
  entries: searchEntries(list: "admin-units", term: $q, asOf: $asOf, first: 100) {
    nodes { code name type parent { name } }
    pageInfo { hasNextPage }
  }
}""",
    "q3": """query Q3($code: String!, $asOf: Date!) {
  resolve(list: "admin-units", code: $code, asOf: $asOf) {
    status endedOn entry { code name }
    successors: successorsList { isDefault kinds entry { code name type } }
  }
}""",
}


def variables(q: str) -> list[dict[str, Any]]:
    if q == "q2":
        return [{"q": t, "asOf": KEYS["q2_date"]} for t in KEYS["q2"]]
    return [{"code": c, "asOf": KEYS[f"{q}_date"]} for c in KEYS[q]]


def bodies(system: str, q: str) -> list[dict[str, Any]]:
    """Request bodies for a system: 'registry', 'pg5' or 'floor'."""
    if system == "floor":
        return [{"variables": v} for v in variables(q)]
    doc = (REGISTRY if system == "registry" else PG5)[q]
    return [{"query": doc, "variables": v} for v in variables(q)]


def normalise(q: str, payload: dict[str, Any]) -> Any:
    """A system-neutral form of an answer, for equality."""
    d = payload["data"]
    if q == "q1":
        e = d["entry"]
        return None if e is None else (
            e["code"], e["name"], e["type"],
            e["parent"] and (e["parent"]["code"], e["parent"]["name"], e["parent"]["type"]),
            [(c["code"], c["name"], c["type"]) for c in e["children"]["nodes"]])
    if q == "q2":
        e = d["entries"]
        return ([(n["code"], n["name"], n["type"], n["parent"] and n["parent"]["name"])
                 for n in e["nodes"]], e["pageInfo"]["hasNextPage"])
    r = d["resolve"]
    return None if r is None else (
        r["status"].lower(), r["endedOn"], r["entry"] and (r["entry"]["code"], r["entry"]["name"]),
        [(s["isDefault"], tuple(k.lower() for k in s["kinds"]),
          s["entry"]["code"], s["entry"]["name"], s["entry"]["type"]) for s in r["successors"]])
