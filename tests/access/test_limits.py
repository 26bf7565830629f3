"""Rate limits, body limits and WebSocket limits: each fires with its code."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from app.access.limits import Limiter
from app.backends.buckets.memory import MemoryBuckets
from app.backends.buckets.redis import RedisBuckets
from app.platform import Platform
from app.server.asgi import create_app
from tests.support.api import ADMIN_KEY, Api, with_state
from tests.support.redis_server import RedisServer
from tests.support.servers import ServerProcess

VIEW = ('mutation($c: TrackContext!) { viewCategory(context: $c, categoryId: "c1") '
        "{ eventId } }")


async def _api_with(platform: Platform, **limits: Any) -> tuple[Any, httpx.AsyncClient]:
    platform.settings = platform.settings.with_(**limits)
    platform.limiter = Limiter(platform.settings, MemoryBuckets())
    app = create_app(platform.settings, platform=platform, run_workers=False)
    served = with_state(app, {"platform": platform})
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=served), base_url="http://t")
    return app, http


async def _post(http: httpx.AsyncClient, body: dict, key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return await http.post("/graphql", json=body, headers=headers)


async def test_tracker_limit_per_client_answers_429(platform: Platform, shop: dict) -> None:
    _, http = await _api_with(platform, rate_tracker_per_ip=0.001, burst_tracker_per_ip=3,
                              rate_tracker_per_visitor=1000, burst_tracker_per_visitor=1000)
    async with http:
        answers = [await _post(http, {"query": VIEW, "variables": {
            "c": {"shopId": 1, "visitorId": f"v{i}"}}}) for i in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    error = answers[3].json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["scope"] == "client"


async def test_tracker_limit_per_visitor_counts_events(platform: Platform, shop: dict) -> None:
    _, http = await _api_with(platform, rate_tracker_per_ip=1000, burst_tracker_per_ip=1000,
                              rate_tracker_per_visitor=0.001, burst_tracker_per_visitor=5)
    batch = ("mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }")
    events = [{"type": "VISIT", "context": {"shopId": 1, "visitorId": "busy"}}] * 4
    async with http:
        first = await _post(http, {"query": batch, "variables": {"e": events}})
        second = await _post(http, {"query": batch, "variables": {"e": events}})
        other = await _post(http, {"query": batch, "variables": {
            "e": [{"type": "VISIT", "context": {"shopId": 1, "visitorId": "calm"}}]}})
    assert first.status_code == 200 and len(first.json()["data"]["track"]) == 4
    assert second.status_code == 429
    assert second.json()["errors"][0]["extensions"]["scope"] == "visitor"
    assert other.status_code == 200


async def test_refused_batch_stores_nothing(platform: Platform, shop: dict) -> None:
    _, http = await _api_with(platform, rate_tracker_per_ip=0.001, burst_tracker_per_ip=1)
    batch = "mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }"
    events = [{"type": "VISIT", "context": {"shopId": 1, "visitorId": "v", "eventId": f"e{i}"}}
              for i in range(3)]
    async with http:
        answer = await _post(http, {"query": batch, "variables": {"e": events}})
    assert answer.status_code == 429
    assert await platform.storage.events.count_documents({}) == 0


async def test_api_key_limit(platform: Platform, shop: dict) -> None:
    _, http = await _api_with(platform, rate_api_per_key=0.001, burst_api_per_key=2)
    query = {"query": "{ shop(shopId: 1) { name } }"}
    async with http:
        answers = [await _post(http, query, shop["key"]) for _ in range(3)]
        admin = await _post(http, query, ADMIN_KEY)
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert not any((answers[2].json()["data"] or {}).values())
    assert admin.status_code == 200  # each key has a bucket of its own


async def test_tracker_body_over_64kb_is_413(api: Api, shop: dict) -> None:
    body = json.dumps({"query": VIEW, "variables": {
        "c": {"shopId": 1, "visitorId": "v", "url": "x" * 70_000}}})
    answer = await api.http.post("/graphql", content=body,
                                 headers={"content-type": "text/plain"})
    assert answer.status_code == 413
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "65536 bytes" in answer.json()["errors"][0]["message"]


async def test_keyed_body_may_be_larger_but_not_over_1mb(api: Api, shop: dict) -> None:
    padding = " " * 100_000
    keyed = await api.http.post(
        "/graphql", content='{"query": "{ shop(shopId: 1) { name } }"' + padding + "}",
        headers={"authorization": f"Bearer {shop['key']}", "content-type": "application/json"})
    assert keyed.status_code == 200
    huge = await api.http.post(
        "/graphql", content=b"{" + b" " * 1_100_000 + b"}",
        headers={"authorization": f"Bearer {shop['key']}"})
    assert huge.status_code == 413


async def test_chunked_body_without_length_is_counted(api: Api, shop: dict) -> None:
    async def chunks():
        for _ in range(20):
            yield b" " * 10_000

    answer = await api.http.post("/graphql", content=chunks(),
                                 headers={"content-type": "application/json"})
    assert answer.status_code == 413


@pytest.fixture
def redis_limits() -> Any:
    with RedisServer() as server:
        yield server


async def test_redis_buckets_are_shared(redis_limits: RedisServer) -> None:
    one, two = RedisBuckets(redis_limits.url), RedisBuckets(redis_limits.url)
    try:
        taken = [await (one if i % 2 else two).take("k", 0.001, 4) for i in range(6)]
    finally:
        await one.close()
        await two.close()
    assert taken == [True, True, True, True, False, False]


async def test_redis_down_lets_tracking_through(redis_limits: RedisServer) -> None:
    buckets = RedisBuckets(redis_limits.url)
    redis_limits.stop()
    try:
        assert await buckets.take("k", 0.001, 1)
        assert await buckets.take("k", 0.001, 1)
    finally:
        await buckets.close()


def test_limit_shared_across_two_processes(redis_limits: RedisServer) -> None:
    env = {"TRACKER_REDIS_URL": redis_limits.url, "TRACKER_RATE_PER_IP": "0.001",
           "TRACKER_BURST_PER_IP": "6"}
    with ServerProcess(**env) as a, ServerProcess(**env) as b:
        statuses = []
        for i in range(10):
            server = a if i % 2 else b
            answer = httpx.post(f"{server.url}/graphql", json={"query": VIEW, "variables": {
                "c": {"shopId": 1, "visitorId": f"v{i}"}}}, timeout=10)
            statuses.append(answer.status_code)
    assert statuses.count(200) == 6
    assert statuses[6:] == [429, 429, 429, 429]


async def _ws(url: str) -> Any:
    return await websockets.connect(url, subprotocols=["graphql-transport-ws"])


def test_websocket_limits() -> None:
    async def scenario(server: ServerProcess) -> None:
        ws_url = server.url.replace("http", "ws") + "/graphql"
        # No connection_init within the timeout: the server closes the connection.
        silent = await _ws(ws_url)
        await asyncio.wait_for(silent.wait_closed(), timeout=10)
        assert silent.close_code == 4408
        # At most 20 subscriptions on one connection.
        ws = await _ws(ws_url)
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {ADMIN_KEY}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for i in range(21):
            await ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": {
                "query": "subscription { triggers(shopId: 1) { triggerId } }"}}))
        refusal = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        assert refusal["type"] == "error" and refusal["id"] == "20"
        assert "limit" in refusal["payload"][0]["message"].lower()
        await ws.close()

    with ServerProcess(TRACKER_WS_INIT_TIMEOUT="1") as server:
        asyncio.run(scenario(server))
