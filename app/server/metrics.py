"""`GET /metrics`, `GET /readyz`, and the timing of every HTTP request.

- `/metrics`: this process's registry (`app/backends/metrics.py`) in the
  Prometheus text format, for the admin key only (`Authorization: Bearer`, as
  Prometheus' `authorization` scrape setting sends it): 401 without a valid
  key, 403 with a shop's key, 429 once a client guessed too often (wrong keys
  count against its guesses, as on /graphql). Before answering, the gauges that
  need a look are set: storage and broker up, each worker's lag.
- `/readyz`: 200 when this process can serve (storage and broker answer,
  indexes made, not shutting down), else 503 saying what is missing.
- request timing (rule 1 of `app/server/middleware.py`, which times every request):
  `tracker_request_duration_seconds` and `tracker_requests_total` by operation
  kind. The kind is named by whoever learns it (`name_request`): the fast path
  says track, the GraphQL extension query or mutation (a `track` mutation
  through Strawberry is track too); anything else stays other.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.access import Keys
from app.backends import metrics
from app.core import RateLimited, TrackerError
from app.platform import Platform
from app.server import lag


async def _look(platform: Platform) -> tuple[bool, bool]:
    storage_ok = await platform.storage.ping()
    broker_ok = await platform.broker.ping()
    metrics.STORAGE_UP.set(1 if storage_ok else 0)
    metrics.BROKER_UP.set(1 if broker_ok else 0)
    return storage_ok, broker_ok


def _refuse(status: int, message: str, code: str) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="metrics"'} if status == 401 else {}
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


async def serve_metrics(request: Request) -> Response:
    platform: Platform = request.state.platform
    keys = Keys(platform.shops, platform.settings.admin_key, platform.limiter)
    client = request.client.host if request.client else "unknown"
    try:
        principal = await keys.principal(request.headers.get("authorization"), client)
    except RateLimited as error:
        return _refuse(429, error.message, error.code)
    except TrackerError as error:
        return _refuse(401, error.message, error.code)
    if not principal.admin:
        return _refuse(403, "/metrics needs the admin key", "FORBIDDEN")
    await _look(platform)
    await lag.measure(platform)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


async def readyz(request: Request) -> JSONResponse:
    platform: Platform = request.state.platform
    storage_ok, broker_ok = await _look(platform)
    indexes = platform.indexes_made
    stopping = getattr(request.app.state, "stopping", False)
    ok = storage_ok and broker_ok and indexes and not stopping
    body = {"status": "ready" if ok else "not ready", "storage": storage_ok,
            "broker": broker_ok, "indexes": indexes, "stopping": stopping}
    return JSONResponse(body, status_code=200 if ok else 503)
