"""Webhooks: trigger -> webhook received, and deliveries per second per server process.

One GraphQL server process (embedded store, default webhook settings) and, in a
client process of its own (`python -m bench.webhooks '<spec>'`), a receiver (a
raw ASGI app under uvicorn, answering 200 at once, no signature check) with
`endpoints` endpoints on the demo shop, and a sender of `viewSection` mutations.

- Latency: mutations at `rate`/s, each firing a SECTION_VISITED trigger that
  every endpoint takes; from just before the mutation is sent to the receipt of
  each webhook (sender and receiver share one clock).
- Throughput: the receiver holds its answers while `backlog` triggers are
  stored with batch `track` mutations (so `backlog x endpoints` deliveries are
  queued, at most `webhook_concurrency` in flight); then it answers, and the
  deliveries per second are counted from then to the last one received.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import uvicorn

from bench.common import ADMIN_KEY, ROOT, ServerProcess, percentile
from bench.loadgen import Connection
from bench.redis import free_port

ADD = ("mutation($u:String!){addWebhookEndpoint(shopId:1,url:$u,types:[SECTION_VISITED])"
       "{endpoint{endpointId}}}")
VIEW_SECTION = ("mutation($c:TrackContext!,$n:String!){viewSection(context:$c,pageName:$n)"
                "{eventId}}")
TRACK = "mutation($e:[TrackInput!]!){track(events:$e){eventId}}"


def log(message: str) -> None:
    print(f"[bench.webhooks {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Receiver:
    """Records (endpoint, trigger name, time) of each webhook; `gate` holds the answers."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[tuple[str, str, float]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False,
                                                    lifespan="off", interface="asgi3"))

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        at = time.perf_counter()
        webhook_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
        # The trigger id is "1:<eventId>:SECTION_VISITED" and the event id is the name.
        self.got.append((scope["path"], webhook_id.split(":")[1], at))
        await self.gate.wait()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    def count(self, prefix: str) -> int:
        return sum(1 for _, name, _ in self.got if name.startswith(prefix))


async def client(spec: dict[str, Any]) -> dict[str, Any]:
    base, endpoints = spec["base"], int(spec["endpoints"])
    receiver = Receiver()
    serving = asyncio.create_task(receiver.server.serve())
    while not receiver.server.started:
        await asyncio.sleep(0.01)
    idle: list[Connection] = []  # keep-alive connections, one per request in flight
    sent: dict[str, float] = {}

    async def post(query: str, variables: dict[str, Any]) -> None:
        body = json.dumps({"query": query, "variables": variables}).encode()
        connection = idle.pop() if idle else Connection(base + "/graphql")
        try:
            status, text = await connection.post(body)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed a connection left idle: once more on a new one.
            await connection.close()
            connection = Connection(base + "/graphql")
            status, text = await connection.post(body)
        idle.append(connection)
        if status != 200 or b'"errors"' in text:
            raise RuntimeError(f"mutation failed: {text[:300]!r}")

    async def view(name: str) -> None:
        sent[name] = time.perf_counter()
        await post(VIEW_SECTION, {"c": {"shopId": 1, "visitorId": f"wh{len(sent) % 50}",
                                        "eventId": name}, "n": name})

    async def received(prefix: str, want: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while receiver.count(prefix) < want and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    try:
        async with httpx.AsyncClient(base_url=base, headers={
                "authorization": f"Bearer {ADMIN_KEY}"}) as api:
            for i in range(endpoints):
                answer = (await api.post("/graphql", json={
                    "query": ADD, "variables": {"u": f"http://127.0.0.1:{receiver.port}/e{i}"}}
                )).json()
                if answer.get("errors"):
                    raise RuntimeError(f"addWebhookEndpoint failed: {answer}")
        log("endpoints added")
        for i in range(5):  # warm-up: connections open, caches filled
            await view(f"warm{i}")
        await received("warm", 5 * endpoints, 30)

        log(f"warm: {receiver.count('warm')} received")
        rate, count = float(spec["rate"]), int(spec["count"])
        began = time.perf_counter()
        pending = []
        for i in range(count):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(view(f"lat{i}")))
        await asyncio.gather(*pending)
        await received("lat", count * endpoints, 60)
        latencies = [(at - sent[name]) * 1000 for _, name, at in receiver.got
                     if name.startswith("lat")]
        latency = {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                   "max": max(latencies) if latencies else float("nan"),
                   "samples": len(latencies), "missing": count * endpoints - len(latencies),
                   "rate": rate, "count": count}

        log(f"latency: {latency}")
        backlog = int(spec["backlog"])
        receiver.gate.clear()
        for start in range(0, backlog, 100):
            events = [{"type": "SECTION_VIEW", "pageName": f"bl{i}",
                       "context": {"shopId": 1, "visitorId": f"bl{i % 50}", "eventId": f"bl{i}"}}
                      for i in range(start, min(start + 100, backlog))]
            await post(TRACK, {"e": events})
        log("backlog stored")
        opened = time.perf_counter()
        receiver.gate.set()
        await received("bl", backlog * endpoints, 120)
        times = [at for _, name, at in receiver.got if name.startswith("bl")]
        seconds = max(times) - opened if times else float("nan")
        throughput = {"deliveries": len(times), "seconds": seconds,
                      "per_second": len(times) / seconds if times else float("nan"),
                      "missing": backlog * endpoints - len(times)}
        return {"latency": latency, "throughput": throughput, "endpoints": endpoints}
    finally:
        for connection in idle:
            await connection.close()
        receiver.server.should_exit = True
        await serving


def measure(endpoints: int = 10, rate: float = 100.0, count: int = 1000,
            backlog: int = 2000) -> dict[str, Any]:
    with ServerProcess("graphql") as server:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        spec = {"base": server.base, "endpoints": endpoints, "rate": rate, "count": count,
                "backlog": backlog}
        cpu = server.cpu_seconds()
        done = subprocess.run([sys.executable, "-m", "bench.webhooks", json.dumps(spec)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        cpu = server.cpu_seconds() - cpu
        if done.returncode != 0:
            raise RuntimeError(f"webhook client failed:\n{done.stderr[-3000:]}\n"
                               f"server:\n{server.log_text()}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    made = result["latency"]["samples"] + result["throughput"]["deliveries"]
    result["server_cpu_ms_per_delivery"] = 1000 * cpu / made if made else None
    return result


if __name__ == "__main__":
    try:
        from uvloop import run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        from asyncio import run
    print(json.dumps(run(client(json.loads(sys.argv[1])))))
