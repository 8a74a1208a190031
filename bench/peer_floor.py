"""The raw-SQL floor for the peer benchmark (bench/peer_graphql.py): its three questions.

The routes of bench/graphql_floor.py (same connection, same Starlette and uvicorn), plus
three that answer the questions of bench/peer_postgraphile/queries.py at the asked date,
in the payload shape its normaliser reads: a district with its parent and children, a
search page of 100 with parent names, and an ended code resolved to its active successors
through ended ones. One psycopg connection, hand-written SQL, no GraphQL.
``REGISTRY_DATABASE_URL`` names the database.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from graphql_floor import LISTS, VALID, conn
from graphql_floor import app as _floor_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from registry.text import fold

_AT = ("{a}.superseded_release IS NULL AND {a}.valid_from <= %(d)s "
       "AND ({a}.valid_to IS NULL OR {a}.valid_to > %(d)s)")


async def _args(request: Request) -> dict[str, Any]:
    variables = (await request.json())["variables"]
    return {**variables, "l": LISTS["admin-units"], "d": date.fromisoformat(variables["asOf"])}


def _unit(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"code": row[0], "name": row[1], "type": row[2]}


async def entry(request: Request) -> JSONResponse:
    """Q1: an entry on a date, its parent then, and its active children then (50 at most)."""
    args = await _args(request)
    found = conn.execute(
        f"SELECT v.code, v.name, v.type, p.code, p.name, p.type FROM entry_versions v "
        f"LEFT JOIN entry_versions p ON p.list_id = v.list_id AND p.code = v.parent_code "
        f"AND {_AT.format(a='p')} "
        f"WHERE v.list_id = %(l)s AND v.code = %(code)s AND {VALID}", args).fetchone()
    if found is None:
        return JSONResponse({"data": {"entry": None}})
    children = conn.execute(
        f"SELECT v.code, v.name, v.type FROM entry_versions v WHERE v.list_id = %(l)s "
        f"AND v.parent_code = %(code)s AND v.status = 'active' AND {VALID} "
        f"ORDER BY v.code LIMIT 50", args).fetchall()
    out = _unit(found)
    out["parent"] = _unit(found[3:]) if found[3] is not None else None
    out["children"] = {"nodes": [_unit(r) for r in children]}
    return JSONResponse({"data": {"entry": out}})


async def search(request: Request) -> JSONResponse:
    """Q2: active entries whose folded name holds the folded term, by name then code, 100."""
    args = await _args(request)
    escaped = fold(args["q"]).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        f"SELECT v.code, v.name, v.type, p.name FROM entry_versions v "
        f"LEFT JOIN entry_versions p ON p.list_id = v.list_id AND p.code = v.parent_code "
        f"AND {_AT.format(a='p')} "
        f"WHERE v.list_id = %(l)s AND v.status = 'active' AND {VALID} "
        f"AND v.search_key LIKE %(like)s ESCAPE '\\' ORDER BY v.search_key, v.code LIMIT 101",
        {**args, "like": f"%{escaped}%"}).fetchall()
    nodes = [{**_unit(r), "parent": None if r[3] is None else {"name": r[3]}}
             for r in rows[:100]]
    return JSONResponse({"data": {"entries": {"nodes": nodes,
                                              "pageInfo": {"hasNextPage": len(rows) > 100}}}})


# Links in effect on the date, followed through ended codes to active ones (10 links at
# most); a path is default when each of its links is; one row per successor, the default first.
_SUCCESSORS = f"""
WITH RECURSIVE walk(to_code, is_default, kinds, depth, active) AS (
    SELECT l.to_code, l.is_default, ARRAY[l.kind::text], 1,
           EXISTS (SELECT 1 FROM entry_versions w WHERE w.list_id = l.list_id
                   AND w.code = l.to_code AND w.status = 'active' AND {_AT.format(a='w')})
    FROM lineage_links l
    WHERE l.list_id = %(l)s AND l.from_code = %(code)s AND l.effective_date <= %(d)s
  UNION ALL
    SELECT l.to_code, w.is_default AND l.is_default, w.kinds || l.kind::text, w.depth + 1,
           EXISTS (SELECT 1 FROM entry_versions x WHERE x.list_id = l.list_id
                   AND x.code = l.to_code AND x.status = 'active' AND {_AT.format(a='x')})
    FROM walk w JOIN lineage_links l ON l.list_id = %(l)s AND l.from_code = w.to_code
         AND l.effective_date <= %(d)s
    WHERE NOT w.active AND w.depth < 10
)
SELECT s.is_default, s.kinds, v.code, v.name, v.type
FROM (SELECT DISTINCT ON (to_code) * FROM walk WHERE active ORDER BY to_code, NOT is_default) s
JOIN entry_versions v ON v.list_id = %(l)s AND v.code = s.to_code AND {VALID}
ORDER BY NOT s.is_default, s.to_code
"""


async def resolve(request: Request) -> JSONResponse:
    """Q3: what a code denotes on a date; an ended one with its active successors."""
    args = await _args(request)
    found = conn.execute(
        f"SELECT v.code, v.name, v.status, v.valid_from FROM entry_versions v "
        f"WHERE v.list_id = %(l)s AND v.code = %(code)s AND {VALID}", args).fetchone()
    if found is None:
        return JSONResponse({"data": {"resolve": None}})
    active = found[2] == "active"
    successors = [] if active else conn.execute(_SUCCESSORS, args).fetchall()
    return JSONResponse({"data": {"resolve": {
        "status": "active" if active else "ended",
        "endedOn": None if active else found[3].isoformat(),
        "entry": {"code": found[0], "name": found[1]},
        "successors": [{"isDefault": r[0], "kinds": r[1],
                        "entry": {"code": r[2], "name": r[3], "type": r[4]}}
                       for r in successors]}}})


app = Starlette(routes=[*_floor_app.routes,
                        Route("/floor/peer/q1", entry, methods=["POST"]),
                        Route("/floor/peer/q2", search, methods=["POST"]),
                        Route("/floor/peer/q3", resolve, methods=["POST"])])
