"""A webhook receiver for the bench: answers 204 and notes when each POST arrived.

``python bench/webhook_receiver.py PORT``; ``GET /arrivals`` returns
``[[path, release, unix time], …]``.
"""

from __future__ import annotations

import json
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ARRIVALS: list[tuple[str, int, float]] = []


async def hook(request: Request) -> Response:
    body = await request.body()
    ARRIVALS.append((request.url.path, json.loads(body)["data"]["release"], time.time()))
    return Response(status_code=204)


async def arrivals(request: Request) -> Response:
    return JSONResponse(ARRIVALS)


app = Starlette(routes=[Route("/arrivals", arrivals), Route("/{name}", hook, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
