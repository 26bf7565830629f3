"""Public storefront endpoints: recommendations for widgets, and the widget script.

- ``GET /recommendations?shopId=…&strategy=…&productId=…&visitorId=…&categoryId=…&limit=…``
  answers the JSON list `Query.recommendations` answers (productId, score, and the
  product's public catalog data), with no key. No customer data: no user id is taken
  or given, and a visitor id only steers FOR_YOU. Cacheable for 60 s (`public`: the
  URL holds everything the answer depends on). Rate-limited like the tracker (a token
  from the client's bucket and, with a visitor id, from the visitor's), CORS like
  ``/graphql`` (the front layer, app/server/middleware.py, echoes the Origin), and an
  Origin outside the shop's `allowedOrigins` is refused as the tracker's events are.
- ``GET /widget.js``: the widget script (``app/static/widget.js``, not part of the
  tracker's size budget), cached like the tracker.

Errors answer ``{"errors": [{"message", "extensions": {"code"}}]}`` with the status of
their code (400 BAD_INPUT, 404 NOT_FOUND, 403 FORBIDDEN, 429 RATE_LIMITED).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.core import BadInput, Forbidden, TrackerError
from app.recommendations import Ask, public, recommend
from app.server.web import STATIC, TRACKER_CACHE_CONTROL, _serve

CACHE_CONTROL = "public, max-age=60"
MAX_ID = 128  # the longest id a parameter may carry, as for tracked events
STATUS = {"BAD_INPUT": 400, "FORBIDDEN": 403, "NOT_FOUND": 404, "RATE_LIMITED": 429}
PARAMS = frozenset({"shopId", "strategy", "productId", "visitorId", "categoryId", "limit"})


def _ask(request: Request) -> Ask:
    q = request.query_params
    unknown = sorted(set(q) - PARAMS)
    if unknown:
        raise BadInput(f"unknown parameter {unknown[0]}", field=unknown[0])
    for name in PARAMS:
        if len(q.getlist(name)) > 1:
            raise BadInput(f"{name} is given more than once", field=name)
        if len(q.get(name) or "") > MAX_ID:
            raise BadInput(f"{name} is longer than {MAX_ID} characters", field=name)
    return Ask(_int(q.get("shopId"), "shopId"), q.get("strategy") or "",
               product_id=q.get("productId") or None, visitor_id=q.get("visitorId") or None,
               category_id=q.get("categoryId") or None,
               limit=_int(q.get("limit") or "10", "limit"))


def _int(value: str | None, name: str) -> int:
    if value is None or not value.isdigit() or len(value) > 9:
        raise BadInput(f"{name} must be a positive whole number", field=name)
    return int(value)


async def recommendations(request: Request) -> Response:
    platform = request.state.platform
    try:
        ask = _ask(request)
        client = request.client.host if request.client else "unknown"
        await platform.limiter.check_public(client, ask.shop_id, ask.visitor_id)
        shop = await platform.shops.require(ask.shop_id)
        origin = request.headers.get("origin")
        allowed = shop.settings.allowed_origins
        if origin and allowed and origin.rstrip("/") not in allowed:
            raise Forbidden(f"origin {origin} is not allowed for shop {shop.shop_id}",
                            field="origin")
        found = await recommend(platform.storage, shop.interest_frame, platform.clock.now(),
                                ask)
    except TrackerError as error:
        return _error(error)
    body = [{"productId": r["productId"], "score": r["score"], "product": public(r["product"])}
            for r in found]
    return JSONResponse(body, headers={"Cache-Control": CACHE_CONTROL,
                                       "X-Content-Type-Options": "nosniff"})


def _error(error: TrackerError) -> Response:
    body: dict[str, Any] = {"errors": [{"message": str(error), "extensions": error.extensions}]}
    headers = {"Cache-Control": "no-store"}
    if error.code == "RATE_LIMITED":
        headers["Retry-After"] = "1"
    return JSONResponse(body, status_code=STATUS.get(error.code, 400), headers=headers)


async def widget_js(request: Request) -> Response:
    return _serve(request, STATIC / "widget.js", "application/javascript", {
        "Cache-Control": TRACKER_CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }, "/* widget.js is missing */\n")


routes: list = [
    Route("/recommendations", recommendations, methods=["GET"], name="recommendations"),
    Route("/widget.js", widget_js, methods=["GET", "HEAD"], name="widget_js"),
]
