"""What every dataset module shares: failing loudly, and writing files deterministically."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "registry" / "data"
SOURCES = DATA / "sources"

BASELINE_DATE = "2025-01-01"
REFORM_DATE = "2025-07-01"
LB_202 = {"number": "202/2025/QH15", "date": "2025-06-12", "issuer": "Quốc hội"}


class BuildError(Exception):
    """A source disagrees with a checked fact."""


def check(condition: bool, message: str) -> None:
    """Fail loudly (assert statements vanish under ``python -O``)."""
    if not condition:
        raise BuildError(message)


def nfc(text: str) -> str:
    """Unicode NFC, as the registry stores text."""
    return unicodedata.normalize("NFC", text)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def changeset_text(cs: dict[str, Any]) -> str:
    """Compact JSON with one operation per line."""
    head = [f'  "title": {dumps(cs["title"])}', f'  "legal_basis": {dumps(cs["legal_basis"])}',
            f'  "effective_date": {dumps(cs["effective_date"])}']
    ops = ",\n".join("    " + dumps(op) for op in cs["operations"])
    return "{\n" + ",\n".join(head) + ',\n  "operations": [\n' + ops + "\n  ]\n}\n"


def definition_text(definition: dict[str, Any]) -> str:
    lines = []
    for key, value in definition.items():
        if key == "levels":
            inner = ",\n".join("    " + dumps(level) for level in value)
            lines.append(f'  "levels": [\n{inner}\n  ]')
        elif key == "attributes" and value:
            inner = ",\n".join(f"    {dumps(k)}: {dumps(v)}" for k, v in value.items())
            lines.append(f'  "attributes": {{\n{inner}\n  }}')
        else:
            lines.append(f"  {dumps(key)}: {dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def check_nfc(text: str, name: str) -> None:
    check(unicodedata.normalize("NFC", text) == text, f"{name} is not NFC")
    check(str(ROOT) not in text, f"{name} contains a local path")


