"""The ASGI application: GraphQL, the tracker script, the demo shop and health."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError

from app import web
from app.clock import Clock
from app.errors import TrackerError
from app.middleware import BodyLimit, PlainTextJSON
from app.platform import Platform
from app.settings import Settings
from app.workers import Workers
from schema import build_schema
from schema.context import Context

log = logging.getLogger("tracker")

MAX_SUBSCRIPTIONS_PER_CONNECTION = 20


def _error_body(message: str, code: str) -> bytes:
    return json.dumps({"data": None,
                       "errors": [{"message": message, "extensions": {"code": code}}]}).encode()


class _WebSocketAdapter(ASGIWebSocketAdapter):
    async def close(self, code: int, reason: str) -> None:
        # Say why a connection was refused, not only "Forbidden".
        reason = getattr(self.ws.state, "reject_reason", None) or reason
        await super().close(code, reason)


class TrackerGraphQL(GraphQL):
    """Strawberry's view, with our context, key check on connect and coded errors."""

    websocket_adapter_class = _WebSocketAdapter  # type: ignore[assignment]

    def __init__(self, settings: Settings, platform: Platform | None, **kwargs: Any) -> None:
        super().__init__(build_schema(settings), **kwargs)
        self._platform = platform

    @property
    def platform(self) -> Platform:
        assert self._platform is not None, "the platform starts with the app"
        return self._platform

    @platform.setter
    def platform(self, value: Platform) -> None:
        self._platform = value

    async def get_context(self, request: Any, response: Any) -> Context:  # type: ignore[override]
        return Context(platform=self.platform, request=request, response=response)

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override]
        try:
            await context.principal()
        except TrackerError as error:
            context.request.state.reject_reason = f"{error.code}: {error.message}"
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from None
        return None

    def decode_json(self, data: str | bytes) -> object:
        try:
            value = json.loads(data)
        except UnicodeDecodeError:
            # A body that is not UTF-8 is unparseable JSON (400), not a server error.
            raise json.JSONDecodeError("the body is not UTF-8", "", 0) from None
        except RecursionError:
            raise json.JSONDecodeError("the body is nested too deeply", "", 0) from None
        if not isinstance(value, dict | list):
            raise json.JSONDecodeError("the body must be a JSON object", "", 0)
        return value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive=receive))
        except HTTPException as error:
            response = Response(_error_body(error.reason, "BAD_INPUT"),
                                status_code=error.status_code, media_type="application/json")
        await response(scope, receive, send)


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
    holder: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal platform
        own = platform is None
        if platform is None:
            platform = await Platform.start(settings, clock=clock)
        app.state.platform = platform
        graphql.platform = platform
        if settings.demo_shop:
            shop, key = await platform.shops.ensure_demo()
            holder["demo"] = (shop.shop_id, key)
        workers = Workers(platform)
        if run_workers:
            workers.start()
        if on_started:
            on_started(holder.get("demo"))
        try:
            yield
        finally:
            await workers.stop()
            if own:
                await platform.stop()

    graphql = TrackerGraphQL(
        settings,
        platform,
        graphql_ide="graphiql" if settings.graphiql else None,
        keep_alive=True,
        keep_alive_interval=15,
        connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )

    async def healthz(request: Request) -> JSONResponse:
        p: Platform = request.app.state.platform
        storage_ok = await p.storage.ping()
        broker_ok = await p.broker.ping()
        ok = storage_ok and broker_ok
        body = {"status": "ok" if ok else "degraded", "storage": storage_ok, "broker": broker_ok}
        return JSONResponse(body, status_code=200 if ok else 503)

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST", "OPTIONS"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            *web.routes,
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(PlainTextJSON)
    app.add_middleware(BodyLimit)
    app.add_middleware(web.TrackerCORS)
    return app
