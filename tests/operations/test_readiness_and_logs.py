"""`GET /readyz` says whether this process can serve; `TRACKER_LOG_FORMAT=json` writes one
JSON object a line, keys redacted as in the text format."""

from __future__ import annotations

import json

import httpx

from tests.support.live import serving
from tests.support.redis_server import RedisServer
from tests.support.scrape import scrape
from tests.support.servers import ServerProcess


async def test_a_serving_process_is_ready() -> None:
    async with serving() as server:
        ready = await server.http.get("/readyz")
        health = await server.healthz()
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "storage": True, "broker": True,
                            "indexes": True, "stopping": False}
    assert health == (200, {"status": "ok", "storage": True, "broker": True})


async def test_a_process_without_its_indexes_is_not_ready() -> None:
    async with serving() as server:
        assert server.platform is not None
        server.platform.indexes_made = False  # as a platform built without `start`
        ready = await server.http.get("/readyz")
        server.platform.indexes_made = True
    assert ready.status_code == 503
    assert ready.json()["indexes"] is False and ready.json()["storage"] is True


async def test_a_process_whose_broker_is_gone_is_not_ready(
    fresh_redis_server: RedisServer,
) -> None:
    async with serving(fresh_redis_server.url) as server:
        assert (await server.http.get("/readyz")).status_code == 200
        assert (await scrape(server.http)).value("tracker_broker_up") == 1
        fresh_redis_server.stop()
        ready = await server.http.get("/readyz")
        page = await scrape(server.http)
        fresh_redis_server.start()
    assert ready.status_code == 503
    assert ready.json()["broker"] is False and ready.json()["status"] == "not ready"
    assert page.value("tracker_broker_up") == 0
    assert page.value("tracker_storage_up") == 1


def test_json_logs_are_one_object_a_line_with_keys_redacted() -> None:
    secret = "sk_1_averysecretkeyvalue"
    with ServerProcess(log_level="info", TRACKER_LOG_FORMAT="json") as server:
        httpx.get(f"{server.url}/healthz?key={secret}&page=2")
        httpx.post(f"{server.url}/graphql?token={secret}", json={"query": "{ __typename }"})
    lines = [line for line in server.output.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # each line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    health = next(r for r in access if r["path"].startswith("/healthz?"))
    assert health["method"] == "GET" and health["status"] == 200
    assert health["path"] == "/healthz?key=[REDACTED]&page=2"
    assert any(r["path"] == "/graphql?token=[REDACTED]" for r in access)
    assert secret not in server.output
    assert any(r["logger"] == "tracker.server" and "is running" in r["message"]
               for r in records)  # the banner is a record too
