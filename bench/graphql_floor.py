"""The floor of the GraphQL benchmark: the same data by direct SQL, on the same HTTP stack.

A tiny Starlette app run by the same uvicorn, with one psycopg connection and hand-written
SQL per request: what an endpoint with no schema, no ORM and no GraphQL costs.
``REGISTRY_DATABASE_URL`` names the database.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from registry.text import fold

_url = os.environ["REGISTRY_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
conn = psycopg.connect(_url, autocommit=True)
LISTS = dict(conn.execute("SELECT key, id FROM code_lists").fetchall())
COLS = "v.code, v.name, v.type, v.level, v.status, v.valid_from, v.parent_code"
VALID = ("v.superseded_release IS NULL AND v.valid_from <= %(d)s "
         "AND (v.valid_to IS NULL OR v.valid_to > %(d)s)")


def _today() -> date:
    return datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"code": row[0], "name": row[1], "type": row[2], "level": row[3], "status": row[4],
            "validFrom": row[5].isoformat()}


async def unit(request: Request) -> JSONResponse:
    """A unit, its parent and its first 20 children."""
    code = (await request.json())["variables"]["code"]
    args = {"l": LISTS["admin-units"], "c": code, "d": _today()}
    found = conn.execute(
        f"SELECT {COLS}, p.code, p.name, p.type FROM entry_versions v "
        f"LEFT JOIN entry_versions p ON p.list_id = v.list_id AND p.code = v.parent_code "
        f"AND p.superseded_release IS NULL AND p.valid_from <= %(d)s "
        f"AND (p.valid_to IS NULL OR p.valid_to > %(d)s) "
        f"WHERE v.list_id = %(l)s AND v.code = %(c)s AND {VALID}", args).fetchone()
    if found is None:
        return JSONResponse({"data": {"administrativeUnit": None}})
    children = conn.execute(
        f"SELECT {COLS} FROM entry_versions v WHERE v.list_id = %(l)s AND v.parent_code = %(c)s "
        f"AND v.status = 'active' AND {VALID} ORDER BY v.code LIMIT 20", args).fetchall()
    out = _row(found)
    out["parent"] = {"code": found[7], "name": found[8], "type": found[9]} if found[7] else None
    out["children"] = {"nodes": [_row(r) for r in children]}
    return JSONResponse({"data": {"administrativeUnit": out}})


async def search(request: Request) -> JSONResponse:
    """Entries whose folded name contains the folded term, by name then code, 100 of them."""
    term = fold((await request.json())["variables"]["q"])
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        f"SELECT {COLS} FROM entry_versions v WHERE v.list_id = %(l)s AND v.status = 'active' "
        f"AND {VALID} AND v.search_key LIKE %(q)s ESCAPE '\\' "
        f"ORDER BY v.search_key, v.code LIMIT 101",
        {"l": LISTS["admin-units"], "d": _today(), "q": f"%{escaped}%"}).fetchall()
    return JSONResponse({"data": {"entries": {"nodes": [_row(r) for r in rows[:100]],
                                              "pageInfo": {"hasNextPage": len(rows) > 100}}}})


async def resolve(request: Request) -> JSONResponse:
    """An ended code's version and its direct successors valid today."""
    code = (await request.json())["variables"]["code"]
    args = {"l": LISTS["admin-units"], "c": code, "d": _today()}
    found = conn.execute(f"SELECT {COLS} FROM entry_versions v WHERE v.list_id = %(l)s "
                         f"AND v.code = %(c)s AND {VALID}", args).fetchone()
    successors = conn.execute(
        f"SELECT {COLS}, l.is_default FROM lineage_links l JOIN entry_versions v "
        f"ON v.list_id = l.list_id AND v.code = l.to_code AND {VALID} "
        f"WHERE l.list_id = %(l)s AND l.from_code = %(c)s AND l.effective_date <= %(d)s",
        args).fetchall()
    return JSONResponse({"data": {"resolve": {
        "status": found[4] if found else None,
        "successors": [{"isDefault": r[7], "entry": _row(r)} for r in successors]}}})


async def ping(request: Request) -> JSONResponse:
    """Readiness."""
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/floor/unit", unit, methods=["POST"]),
                        Route("/floor/search", search, methods=["POST"]),
                        Route("/floor/resolve", resolve, methods=["POST"]),
                        Route("/healthz", ping)])
