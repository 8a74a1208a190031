"""A synthetic national data set for the GraphQL benchmark, loaded through the services.

50 provinces × 10 districts × 20 communes (10,550 administrative units), 1,000 agencies
(40 ministries with 24 units each) and 20,000 procedures, each carried out by one to three
agencies. 500 pairs of communes are then merged on 2025-07-01, so that ``resolve`` has
ended codes to follow. Everything is published as the administrator through
``change_sets.publish_direct``: the same planner, validation and feed as any import.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Engine

from registry.db import session_factory, transaction
from registry.services import change_sets
from registry.services.actors import SYSTEM
from registry.services.change_sets import LegalBasis

PROVINCES, DISTRICTS, COMMUNES = 50, 10, 20
MINISTRIES, UNITS = 40, 24
PROCEDURES = 20_000
MERGES = 500
CHUNK = 5_000
BASIS = LegalBasis(number="1/2025/BENCH", date=date(2025, 1, 1), issuer="Benchmark")
SYLLABLES = ["An", "Bình", "Hòa", "Phú", "Tân", "Thạnh", "Long", "Đông", "Tây", "Nam",
             "Bắc", "Trung", "Phước", "Lợi", "Hưng", "Thuận", "Quang", "Minh", "Đức", "Hải",
             "Sơn", "Lâm", "Thủy", "Kim", "Ngọc", "Vĩnh", "Xuân", "Thịnh", "Cát", "Hà"]


def _name(rng: random.Random, words: int = 2) -> str:
    return " ".join(rng.choice(SYLLABLES) for _ in range(words))


def province_code(p: int) -> str:
    """Code of province ``p`` (0-based)."""
    return f"{p + 1:02d}"


def district_code(p: int, d: int) -> str:
    """Code of district ``d`` of province ``p``."""
    return f"{p * DISTRICTS + d + 1:03d}"


def commune_code(p: int, d: int, c: int) -> str:
    """Code of commune ``c`` of district ``d`` of province ``p``."""
    return f"{(p * DISTRICTS + d) * COMMUNES + c + 1:05d}"


def agency_code(m: int, u: int | None = None) -> str:
    """QCVN 102 code of ministry ``m`` (level 1) or of its unit ``u`` (level 2)."""
    letter = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[m // 20]
    suffix = f"{letter}{m % 20 + 1:02d}"
    return f"000.00.{0 if u is None else u + 1:02d}.{suffix}"


def procedure_code(i: int) -> str:
    """Code of procedure ``i``."""
    return f"{1 + i // 500_000}.{i % 500_000 + 1:06d}"


def _units(rng: random.Random) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for p in range(PROVINCES):
        ops.append({"op": "create", "list": "admin-units", "code": province_code(p),
                    "name": f"Tỉnh {_name(rng)} {p + 1}", "type": "Tỉnh"})
        for d in range(DISTRICTS):
            ops.append({"op": "create", "list": "admin-units", "code": district_code(p, d),
                        "name": f"Huyện {_name(rng)}", "type": "Huyện",
                        "parent": province_code(p)})
            for c in range(COMMUNES):
                # Names repeat on purpose: real lists have many "Xã Tân Hòa".
                ops.append({"op": "create", "list": "admin-units",
                            "code": commune_code(p, d, c), "name": f"Xã {_name(rng)}",
                            "type": rng.choice(["Xã", "Xã", "Phường", "Thị trấn"]),
                            "parent": district_code(p, d)})
    return ops


def _agencies(rng: random.Random) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for m in range(MINISTRIES):
        ops.append({"op": "create", "list": "agencies", "code": agency_code(m),
                    "name": f"Bộ {_name(rng)} {m + 1}", "type": "Bộ"})
        for u in range(UNITS):
            ops.append({"op": "create", "list": "agencies", "code": agency_code(m, u),
                        "name": f"Cục {_name(rng, 3)}", "type": "Đơn vị cấp 2",
                        "attributes": {"admin_unit": province_code(rng.randrange(PROVINCES)),
                                       "email": f"cuc{u}@bo{m}.gov.vn"}})
    return ops


def _procedures(rng: random.Random) -> list[dict[str, Any]]:
    agencies = [agency_code(m, u) for m in range(MINISTRIES) for u in range(UNITS)]
    ops: list[dict[str, Any]] = []
    for i in range(PROCEDURES):
        ops.append({"op": "create", "list": "procedures", "code": procedure_code(i),
                    "name": f"Thủ tục cấp {_name(rng, 3)} {i + 1}", "type": "Thủ tục hành chính",
                    "attributes": {"field_code": f"F{i % 120:03d}",
                                   "levels": [rng.choice(["central", "province", "commune"])],
                                   "implementing_agencies": rng.sample(agencies,
                                                                       rng.randint(1, 3))}})
    return ops


def _merges() -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for i in range(MERGES):
        p, d = divmod(i % (PROVINCES * DISTRICTS), DISTRICTS)
        keep, gone = commune_code(p, d, 0), commune_code(p, d, 1)
        ops.append({"op": "merge", "list": "admin-units", "sources": [keep, gone],
                    "target": {"code": keep, "name": f"Xã Hợp Nhất {i + 1}", "type": "Xã",
                               "parent": district_code(p, d)}})
    return ops


def merged_codes() -> list[str]:
    """Commune codes that ended in the merges (``resolve`` follows them)."""
    out = []
    for i in range(MERGES):
        p, d = divmod(i % (PROVINCES * DISTRICTS), DISTRICTS)
        out.append(commune_code(p, d, 1))
    return out


def _publish(engine: Engine, ops: list[dict[str, Any]], effective: date, title: str) -> int:
    sessions = session_factory(engine)
    release = 0
    for start in range(0, len(ops), CHUNK):
        with transaction(sessions) as session:
            cs = change_sets.create_change_set(session, SYSTEM, title, BASIS, effective)
            change_sets.add_operations(session, SYSTEM, cs.id, ops[start:start + CHUNK])
            release = change_sets.publish_direct(session, SYSTEM, cs.id)
    return release


def load(engine: Engine, say: Callable[[str], None] = print) -> dict[str, int]:
    """Load the whole data set; returns counts."""
    rng = random.Random(20250701)
    started = time.perf_counter()
    steps = [("administrative units", _units(rng), date(2025, 1, 1)),
             ("agencies", _agencies(rng), date(2025, 1, 1)),
             ("procedures", _procedures(rng), date(2025, 1, 1)),
             ("merges", _merges(), date(2025, 7, 1))]
    counts = {}
    for title, ops, effective in steps:
        _publish(engine, ops, effective, f"benchmark: {title}")
        counts[title] = len(ops)
        say(f"  loaded {len(ops):>6} {title:<22} ({time.perf_counter() - started:6.1f} s)")
    return counts
