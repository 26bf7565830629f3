"""Fair shares (issue 22): another client's latency with and without a noisy key's work,
side by side on one server process (embedded store), and what idle subscriptions cost.

    python -m bench.fair [--events 30000] [--triggers 10000] [--probes 100]

The other client sends `trackEvent`s one after another; for each noise, its median and
p99 latency are measured alone and then while the noise runs, and their ratio printed:
- analytics: the dashboard's overview of 31 days (4 analytics fields), in a loop, over
  `--events` stored events (on the embedded store the aggregations run in worker
  threads: the event loop stays free);
- replay: 20 subscriptions replaying from the oldest of `--triggers` stored triggers
  with a `names` filter that matches only the newest, reconnecting in a loop;
- fan-out: one request of 100 custom events through 100 rules (10,000 triggers), its
  answer time, and the other client while the fan-out job works (answer first);
- idle: the server's CPU over 5 s with 200 open, idle subscriptions (no wake-ups),
  ten on each of 20 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable

import httpx
import websockets

from bench.common import ADMIN_KEY, ServerProcess, percentile

TRACK = ('mutation($c: TrackContext!) { trackEvent(context: $c, eventName: "other") '
         "{ eventId } }")
OVERVIEW = """query($from: DateTime!, $to: DateTime!) {
  stats(shopId: 1, from: $from, to: $to) { buckets { visitors } totals { visitors } }
  funnel(shopId: 1, from: $from, to: $to) { sessions withCheckout }
  topProducts(shopId: 1, from: $from, to: $to, limit: 10) { productId views }
  topCategories(shopId: 1, from: $from, to: $to, limit: 10) { categoryId views } }"""
BATCH = "mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }"
AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}


def other_client(http: httpx.Client, probes: int) -> list[float]:
    took = []
    for i in range(probes):
        began = time.perf_counter()
        answer = http.post("/graphql", json={"query": TRACK, "variables": {
            "c": {"shopId": 1, "visitorId": f"other-{i % 50}"}}})
        took.append(time.perf_counter() - began)
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    return took


def side_by_side(http: httpx.Client, probes: int, noise: Callable[[threading.Event], None]
                 ) -> tuple[list[float], list[float]]:
    alone = other_client(http, probes)
    stop = threading.Event()
    thread = threading.Thread(target=noise, args=(stop,), daemon=True)
    thread.start()
    time.sleep(0.5)  # the noise is under way
    try:
        noisy = other_client(http, probes)
    finally:
        stop.set()
        thread.join(60)
    return alone, noisy


def analytics_noise(base: str) -> Callable[[threading.Event], None]:
    now = time.time()
    span = {"from": time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(now - 31 * 86400)),
            "to": time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(now + 86400))}

    def noise(stop: threading.Event) -> None:
        with httpx.Client(base_url=base, timeout=120, headers=AUTH) as http:
            while not stop.is_set():
                answer = http.post("/graphql", json={"query": OVERVIEW, "variables": span})
                assert answer.status_code == 200, answer.text
    return noise


def replay_noise(ws_url: str, oldest: str) -> Callable[[threading.Event], None]:
    query = ("subscription($a: ID) { triggers(shopId: 1, after: $a, names: [\"last\"]) "
             "{ triggerId } }")

    async def one(stop: threading.Event) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):  # the server stopping
            await replays(stop)

    async def replays(stop: threading.Event) -> None:
        while not stop.is_set():
            async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": AUTH}))
                await ws.recv()
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": query, "variables": {"a": oldest}}}))
                await ws.recv()  # the one trigger that matches: the replay read the log

    def noise(stop: threading.Event) -> None:
        async def all_of_them() -> None:
            await asyncio.gather(*(one(stop) for _ in range(20)))
        asyncio.run(all_of_them())
    return noise


def store_triggers(http: httpx.Client, count: int) -> str:
    """`count` CUSTOM_EVENT triggers (the newest named "last"); the oldest one's id."""
    for start in range(0, count, 100):
        events = [{"type": "CUSTOM", "eventName": "last" if n == count - 1 else "noise",
                   "context": {"shopId": 1, "visitorId": f"t{n % 97}", "eventId": f"t{n}"}}
                  for n in range(start, min(count, start + 100))]
        answer = http.post("/graphql", json={"query": BATCH, "variables": {"e": events}})
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    page = http.post("/graphql", headers=AUTH, json={"query": (
        "{ triggers(shopId: 1, first: 1, types: [CUSTOM_EVENT]) { nodes { triggerId } } }")})
    newest = page.json()["data"]["triggers"]["nodes"][0]["triggerId"]
    return newest.replace(f"t{count - 1}", "t0")


def promo_rules(http: httpx.Client) -> None:
    """99 more rules for custom events named "promo" (the other client's are not)."""
    for n in range(99):
        http.post("/graphql", headers=AUTH, json={"query": (
            'mutation($t: String!) { createTriggerRule(shopId: 1, rule: {type: CUSTOM_EVENT, '
            'title: $t, match: ["promo"]}) { ruleId } }'), "variables": {"t": f"rule {n}"}})


def fan_out(http: httpx.Client, probes: int) -> tuple[float, list[float]]:
    events = [{"type": "CUSTOM", "eventName": "promo",
               "context": {"shopId": 1, "visitorId": "fan", "eventId": f"fan{n}"}}
              for n in range(100)]
    began = time.perf_counter()
    answer = http.post("/graphql", json={"query": BATCH, "variables": {"e": events}})
    answered = time.perf_counter() - began
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    return answered, other_client(http, probes)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(server: ServerProcess, subscriptions: int, seconds: float = 5.0) -> float:
    assert server.process is not None

    async def hold() -> float:
        sockets = []
        for n in range(subscriptions):
            if n % 10 == 0:  # ten subscriptions a connection (a key holds at most 50)
                ws = await websockets.connect(server.ws_url,
                                              subprotocols=["graphql-transport-ws"])
                await ws.send(json.dumps({"type": "connection_init", "payload": AUTH}))
                await ws.recv()
                sockets.append(ws)
            await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {
                "query": "subscription { triggers(shopId: 1) { triggerId } }"}}))
        await asyncio.sleep(1.0)
        before = cpu_seconds(server.process.pid)
        await asyncio.sleep(seconds)
        used = cpu_seconds(server.process.pid) - before
        for ws in sockets:
            await ws.close()
        return used / seconds
    return asyncio.run(hold())


def row(name: str, alone: list[float], noisy: list[float]) -> None:
    a50, n50 = percentile(alone, 50) * 1000, percentile(noisy, 50) * 1000
    a99, n99 = percentile(alone, 99) * 1000, percentile(noisy, 99) * 1000
    print(f"| {name} | {a50:.1f} / {a99:.1f} ms | {n50:.1f} / {n99:.1f} ms | "
          f"{n50 / a50:.2f} | {n99 / a99:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--triggers", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=100)
    args = parser.parse_args()
    print("| noise | other client alone p50 / p99 | with the noise p50 / p99 | "
          "ratio p50 | ratio p99 |")
    print("|---|---|---|---|---|")
    server = ServerProcess(preload=args.events).start()
    try:
        with httpx.Client(base_url=server.base, timeout=120) as http:
            other_client(http, 20)  # warm up
            row(f"analytics overview of 31 days, {args.events:,} events",
                *side_by_side(http, args.probes, analytics_noise(server.base)))
            oldest = store_triggers(http, args.triggers)
            row(f"20 replays of {args.triggers:,} triggers, a names filter",
                *side_by_side(http, args.probes, replay_noise(server.ws_url, oldest)))
            promo_rules(http)
            alone = other_client(http, args.probes)
            answered, during = fan_out(http, args.probes)
            row("fan-out of 100 events x 100 rules (10,000 triggers)", alone, during)
            print(f"\nthe fan-out request itself was answered in {answered * 1000:.0f} ms")
        quiet, held = idle_cpu(server, 0), idle_cpu(server, 200)
        print(f"server CPU, idle: {quiet * 100:.1f}% with no subscription, "
              f"{held * 100:.1f}% with 200 open subscriptions")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
