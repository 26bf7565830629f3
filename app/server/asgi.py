"""The ASGI application: GraphQL, the tracker script, the demo shop, health, readiness
and metrics.

Stopping (SIGTERM, `app/server/cli.py`): uvicorn stops listening and lets the
requests under way finish; then the lifespan ends here: `app.state.stopping`
turns readiness off, the webhook attempts under way get what is left of
`shutdown_seconds` since the signal to finish (those still running are cut and
their leases given back, so another process takes them at once), and only then
the platform stops.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from app.core import Clock
from app.platform import Platform
from app.server import storefront, web
from app.server.graphql import TrackerGraphQL
from app.server.logs import redact_server_logs
from app.server.metrics import readyz, serve_metrics
from app.server.middleware import Front
from app.server.workers import Workers
from app.settings import Settings

MAX_SUBSCRIPTIONS_PER_CONNECTION = 20


async def healthz(request: Request) -> JSONResponse:
    platform: Platform = request.state.platform
    storage_ok = await platform.storage.ping()
    broker_ok = await platform.broker.ping()
    ok = storage_ok and broker_ok
    body = {"status": "ok" if ok else "degraded", "storage": storage_ok, "broker": broker_ok}
    return JSONResponse(body, status_code=200 if ok else 503)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    platform: Platform | None = None,
    run_workers: bool = True,
    on_started: Callable[[tuple[int, str | None] | None], None] | None = None,
) -> Starlette:
    """The server. Pass `platform` to share one (tests); else it starts with the app."""
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        redact_server_logs()
        running = platform or await Platform.start(settings, clock=clock)
        demo = await running.shops.ensure_demo() if settings.demo_shop else None
        workers = Workers(running)
        if run_workers:
            workers.start()
        if on_started:
            on_started((demo[0].shop_id, demo[1]) if demo else None)
        try:
            yield {"platform": running}  # request.state.platform in every request
        finally:
            app.state.stopping = True
            asked = getattr(app.state, "stop_requested_at", None) or time.monotonic()
            await workers.stop(drain=max(0.0, settings.shutdown_seconds
                                         - (time.monotonic() - asked)))
            if platform is None:
                await running.stop()

    graphql = TrackerGraphQL(
        settings,
        graphql_ide="graphiql" if settings.graphiql else None,
        keep_alive=True,
        keep_alive_interval=15,
        connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST", "OPTIONS"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", serve_metrics),
            *web.routes,
            *storefront.routes,
        ],
        # Timing, client address, CORS, body limits, text/plain: one layer, in that order.
        middleware=[
            Middleware(Front, trusted=settings.trusted_proxies,
                       timeout=settings.body_timeout_seconds),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.stopping = False
    return app
