"""A bench-only bare endpoint: the same domain function as GraphQL, without GraphQL.

`POST /track` takes `{"events": [TrackInput as JSON], "sentAt": ...}` (the
variables the tracker sends to the `track` mutation), turns each item straight
into an `app.core.events.EventInput`, applies the same tracker rate limits as the
GraphQL resolvers, calls `app.tracking.pipeline.track` and answers the same five
TrackResult fields as JSON. The Platform and its background workers start as in
the real server. What GraphQL costs is the difference.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.core.errors import BadInput, TrackerError
from app.core.events import Context, EventInput, EventType
from app.platform import Platform
from app.server.workers import Workers
from app.settings import Settings
from app.tracking import pipeline as tracking

FIELDS = {
    "categoryId": "category_id", "productId": "product_id", "pageName": "page_name",
    "userId": "user_id", "userHash": "user_hash", "quantity": "quantity", "price": "price",
    "orderId": "order_id", "eventName": "event_name", "properties": "properties",
}


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadInput("not an ISO-8601 date and time", field="occurredAt") from None


def event_input(item: dict[str, Any], sent_at: datetime | None = None) -> EventInput:
    """One TrackInput, as JSON, made into the domain's event input."""
    c = item["context"]
    context = Context(
        shop_id=c["shopId"], visitor_id=c["visitorId"], source_id=c.get("sourceId"),
        event_id=c.get("eventId"), occurred_at=_time(c.get("occurredAt")),
        sent_at=_time(c.get("sentAt")), url=c.get("url"), referrer=c.get("referrer"),
        identity_token=c.get("identityToken"),
    )
    fields = {FIELDS[k]: v for k, v in item.items() if k in FIELDS}
    return EventInput(type=EventType(item["type"]), context=context, **fields)


def _result(outcome: tracking.Outcome) -> dict[str, Any]:
    if outcome.error is not None:
        return {"error": {"message": outcome.error.message, "code": outcome.error.code}}
    r = outcome.result
    assert r is not None
    return {"eventId": r.event_id, "duplicate": r.duplicate, "sessionId": r.session_id,
            "newSession": r.new_session, "userId": r.user_id}


def create_bare_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        platform = await Platform.start(settings)
        if settings.demo_shop:
            await platform.shops.ensure_demo()
        workers = Workers(platform)
        workers.start()
        try:
            yield {"platform": platform}
        finally:
            await workers.stop()
            await platform.stop()

    async def track(request: Request) -> Response:
        platform: Platform = request.state.platform
        try:
            body = json.loads(await request.body())
            sent_at = _time(body.get("sentAt"))
            inputs = [event_input(item) for item in body["events"]]
            client = request.client.host if request.client else "unknown"
            await platform.limiter.check_tracker(
                client, ((e.context.shop_id, e.context.visitor_id) for e in inputs))
            outcomes = await tracking.track(platform, inputs, sent_at=sent_at,
                                            origin=request.headers.get("origin"))
        except TrackerError as error:
            return JSONResponse({"error": {"message": error.message, "code": error.code}},
                                status_code=error.status or 400)
        except (ValueError, KeyError, TypeError) as error:
            return JSONResponse({"error": {"message": str(error), "code": "BAD_INPUT"}},
                                status_code=400)
        return JSONResponse({"results": [_result(o) for o in outcomes]})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/track", track, methods=["POST"]),
                            Route("/healthz", healthz)], lifespan=lifespan)
    app.state.settings = settings
    return app


def create_floor_app(settings: Settings | None = None) -> Starlette:
    """The floor: Starlette parsing the tracker's JSON and answering a like JSON, no work.

    What no GraphQL layer and no pipeline can beat on this machine: the ratios of
    bench/RESULTS.md are read against it.
    """

    async def graphql(request: Request) -> Response:
        body = json.loads(await request.body())
        events = body["variables"]["e"]
        answer = [{"eventId": e["context"]["eventId"], "duplicate": False,
                   "sessionId": e["context"]["visitorId"], "newSession": False, "userId": None}
                  for e in events]
        return JSONResponse({"data": {"track": answer}})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"]),
                             Route("/healthz", healthz)])
