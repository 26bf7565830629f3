"""The one layer in front of the app (app/server/middleware.py) keeps each rule of the five
middlewares it replaced, in their order: what a browser on another origin and an operator's
scrape see of a preflight, a refused body, a text/plain body and an ordinary answer."""

from __future__ import annotations

import httpx

from app.server.fastpath import TRACKER_DOCUMENT
from tests.support.live import open_shop, serving
from tests.support.scrape import delta, scrape

ORIGIN = "https://shop.example"


def view(visitor: str) -> dict[str, object]:
    return {"e": [{"type": "PRODUCT_VIEW", "productId": "p1", "categoryId": "c1",
                   "context": {"shopId": 1, "visitorId": visitor}}]}


async def test_a_preflight_is_answered_before_the_app_and_timed_as_a_2xx() -> None:
    async with serving() as server:
        before = await scrape(server.http)
        r = await server.http.options("/graphql", headers={
            "origin": ORIGIN, "access-control-request-method": "POST"})
        after = await scrape(server.http)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-headers"] == "content-type, authorization"
    assert r.headers["vary"] == "Origin"
    # The preflight, and the first scrape (counted once its answer went out).
    assert delta(before, after, "tracker_requests_total", kind="other", status="2xx") == 2


async def test_a_refused_body_still_carries_cors_and_is_timed_as_a_4xx() -> None:
    async with serving() as server:
        before = await scrape(server.http)
        r = await server.http.post("/graphql", content=b"x" * (64 * 1024 + 1),
                                   headers={"origin": ORIGIN,
                                            "content-type": "application/json"})
        after = await scrape(server.http)
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"] == {"code": "BAD_INPUT", "limit": 64 * 1024}
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in r.headers["vary"]
    assert delta(before, after, "tracker_requests_total", kind="other", status="4xx") == 1


async def test_a_text_plain_beacon_is_tracked_with_cors_for_its_origin() -> None:
    async with serving() as server:
        await open_shop(server)
        before = await scrape(server.http)
        r = await server.http.post(
            "/graphql", content=httpx.Request("POST", "/", json={
                "query": TRACKER_DOCUMENT, "variables": view("v1")}).read(),
            headers={"origin": ORIGIN, "content-type": "text/plain;charset=UTF-8"})
        after = await scrape(server.http)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["track"][0]["eventId"]
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert delta(before, after, "tracker_requests_total", kind="track", status="2xx") == 1


async def test_an_answer_without_an_origin_names_none_but_varies_by_it() -> None:
    async with serving() as server:
        r = await server.http.post("/graphql", json={"query": "{ __typename }"})
        elsewhere = await server.http.get("/healthz", headers={"origin": ORIGIN})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    assert "Origin" in r.headers["vary"]
    # CORS is for its paths only.
    assert "access-control-allow-origin" not in elsewhere.headers
