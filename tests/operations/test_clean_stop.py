"""SIGTERM: a process stops taking requests, finishes those under way and the webhook
attempts it holds (within TRACKER_SHUTDOWN_SECONDS), gives back the rest, and exits 0.
Nothing accepted is lost: what was pending is delivered by the next process."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support.api import ADMIN_KEY
from tests.support.gated import Gate, batch, held_request
from tests.support.live import eventually, open_shop, serving, shared_store, track
from tests.support.servers import ServerProcess
from tests.support.slow_receiver import SlowReceiver
from tests.support.webhook_helpers import ADD, FAST, add_endpoint, deliveries, settled, until
from tests.support.webhook_receiver import HANG

EVENTS = "query($s: Int!) { events(shopId: $s, first: 500) { nodes { eventId } } }"


async def graphql(http: httpx.AsyncClient, query: str, variables: dict[str, Any],
                  key: str) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables},
                               headers={"authorization": f"Bearer {key}"})
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def test_a_server_process_finishes_its_work_on_sigterm_and_exits_0() -> None:
    env = {"TRACKER_WEBHOOK_ALLOW_PRIVATE": "1", "TRACKER_WEBHOOK_POLL": "0.05",
           "TRACKER_WEBHOOK_TIMEOUT": "10", "TRACKER_SHUTDOWN_SECONDS": "15",
           "TRACKER_LOG_FORMAT": "json"}
    async with SlowReceiver({"hook": 2.0}) as receiver:
        with ServerProcess(log_level="info", **env) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                created = await graphql(
                    http, 'mutation { createShop(name: "S", shopId: 7) { apiKey } }', {},
                    ADMIN_KEY)
                key = created["createShop"]["apiKey"]
                hook = (await graphql(http, ADD, {"s": 7, "url": receiver.url("hook")},
                                      key))["addWebhookEndpoint"]
                receiver.expect("hook", hook["secret"], [200])
                for n in range(5):
                    await graphql(http, "mutation($e: [TrackInput!]!) { track(events: $e) "
                                  "{ eventId } }", {"e": [{"type": "CUSTOM", "eventName": "e",
                                  "context": {"shopId": 7, "visitorId": f"v{n}"}}]}, key)
                await eventually(lambda: len(receiver.of("hook")) == 5,
                                 "five attempts were under way")
            gate = Gate()
            held = [asyncio.create_task(held_request(server.url, gate, batch(7, f"h{n}", 50)))
                    for n in range(3)]
            await eventually(lambda: gate.started == 3, "three requests were under way")
            await asyncio.sleep(0.2)  # their heads and half their bodies are read
            server.signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            with pytest.raises(httpx.TransportError):  # no new requests are taken
                async with httpx.AsyncClient(base_url=server.url, timeout=5) as fresh:
                    await fresh.get("/healthz")
            gate.opened.set()
            answers = await asyncio.gather(*held)
            code = await asyncio.to_thread(server.wait, 30)
            output = server.output
    assert code == 0, output[-3000:]
    for answer in answers:  # every request under way was answered in full
        assert answer.status_code == 200
        body = answer.json()
        assert not body.get("errors") and len(body["data"]["track"]) == 50
    # The attempts under way went on while the requests were finished; whatever was left
    # when the application stopped was waited for, not given back.
    assert "webhook attempts under way finished, 0 given back" in output, output[-3000:]
    assert len(receiver.answered) == 5
    assert "Cancel" not in output  # nothing was cut short


async def test_deliveries_pending_at_sigterm_are_made_by_the_next_process() -> None:
    receiver = SlowReceiver({"slow": 1.0})
    settings = {**FAST, "webhook_timeout_seconds": 60, "webhook_concurrency_per_endpoint": 4,
                "shutdown_seconds": 3}
    async with receiver, shared_store() as store:
        async with serving(storage=store, **settings) as first:
            key = await open_shop(first)
            await add_endpoint(first, key, receiver, "slow")
            await add_endpoint(first, key, receiver, "stuck", answers=[HANG])
            for n in range(10):
                await track(first, "CUSTOM", eventName=f"e{n}", visitor=f"v{n}")
            await eventually(lambda: len(receiver.of("stuck")) == 4
                             and len(receiver.of("slow")) >= 4, "attempts were under way")
            gate = Gate()
            held = [asyncio.create_task(held_request(first.http_url, gate, batch(1, f"h{n}", 50)))
                    for n in range(2)]
            await eventually(lambda: gate.started == 2, "two requests were under way")
            await asyncio.sleep(0.2)
            first.server.handle_exit(signal.SIGTERM, None)  # what uvicorn's handler runs
            gate.opened.set()
            answers = await asyncio.gather(*held)
            assert first._task is not None
            await first._task  # the first server is stopped
        receiver.answers["stuck"] = [200]
        async with serving(storage=store, **{**FAST, "webhook_timeout_seconds": 10}) as second:
            await until(lambda: settled(second, key, 20), "the next server delivered all")
            logged = await deliveries(second, key)
            stored = (await second.graphql(EVENTS, {"s": 1}, key=key))["events"]["nodes"]
    assert all(a.status_code == 200 and not a.json().get("errors") for a in answers)
    assert {f"h{n}-{i}" for n in range(2) for i in range(50)} <= {e["eventId"] for e in stored}
    assert [d["status"] for d in logged] == ["DELIVERED"] * 20, [
        (d["endpointId"], d["attempts"], d["lastError"]) for d in logged
        if d["status"] != "DELIVERED"]
    slow, stuck = Counter(receiver.ids("slow")), Counter(receiver.ids("stuck"))
    assert len(slow) == len(stuck) == 10
    assert set(slow.values()) == {1}  # under way at SIGTERM: finished, not made again
    # Cut at the limit and given back: made again by the next server, at once rather than
    # after the lease (2 x 60 s + 5 s) ran out.
    assert sorted(stuck.values()) == [1] * 6 + [2] * 4


def test_the_server_process_exits_0_on_sigterm_when_idle() -> None:
    with ServerProcess() as server:
        server.signal(signal.SIGTERM)
        try:
            code = server.wait(20)
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not stop on SIGTERM")
    assert code == 0
