"""The load generator: `python -m bench.loadgen '<json spec>'`, run in a process of its own.

Each of `visitors` simulated visitors owns one keep-alive HTTP/1.1 connection
and sends its own events, as the tracker would (text/plain JSON bodies). The
client is a minimal one on asyncio streams (uvloop): a general-purpose client
(aiohttp, httpx) costs more CPU per request than the bare endpoint does, and
this machine has two cores to share between server and load generator. Two modes:

- closed: every visitor sends its next request as soon as the last one is
  answered; the answer is requests and events per second over `duration`
  seconds after `warmup` seconds.
- open: requests are scheduled at a fixed `rate` whatever the answers (request
  i is visitor i % visitors's); latency counts from the scheduled time, so a
  stall is not hidden by the client waiting (no coordinated omission).

Prints one JSON line with the figures of every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

VIEW_PRODUCT = (
    "mutation($c:TrackContext!,$cat:String!,$p:String!){viewProduct(context:$c,"
    "categoryId:$cat,productId:$p){eventId duplicate sessionId newSession userId}}"
)
TRACK = (
    "mutation($e:[TrackInput!]!,$s:DateTime){track(events:$e,sentAt:$s)"
    "{eventId duplicate sessionId newSession userId}}"
)


class Connection:
    """One keep-alive HTTP/1.1 connection: POST a body, read the answer (Content-Length)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, \
            parts.path or "/"
        self.head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                     "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked answers are not expected here")
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Bodies:
    """Request bodies of one visitor: product views, each with a fresh eventId."""

    def __init__(self, spec: dict[str, Any], visitor: str) -> None:
        self.target = spec["target"]
        self.batch = int(spec.get("batch", 1))
        self.single = spec.get("single", "viewProduct")
        self.visitor = visitor
        self.tag = spec["tag"]
        self.seq = itertools.count()
        self.spec_visits = spec.get("visits_every")  # every n-th event a new visit

    def event(self) -> dict[str, Any]:
        n = next(self.seq)
        every = int(self.spec_visits or 0)
        if every and n % every == 0:  # a new visit: a session opens, its channel decided
            return {"type": "VISIT", "context": {
                "shopId": 1, "sourceId": "site", "visitorId": self.visitor,
                "eventId": f"{self.tag}-{self.visitor}-{n}", "occurredAt": _now_iso(),
                "url": f"https://shop.example/?utm_source=news&utm_medium=email&n={n}",
                "referrer": "https://yandex.ru/search/?text=shop"}}
        return {
            "type": "PRODUCT_VIEW", "categoryId": f"c{n % 20}", "productId": f"p{n % 500}",
            "context": {"shopId": 1, "sourceId": "site", "visitorId": self.visitor,
                        "eventId": f"{self.tag}-{self.visitor}-{n}", "occurredAt": _now_iso(),
                        "url": f"https://shop.example/p/{n % 500}", "referrer": None},
        }

    def next(self) -> bytes:
        if self.target == "bare":
            body: dict[str, Any] = {"events": [self.event() for _ in range(self.batch)]}
            if self.batch > 1:
                body["sentAt"] = _now_iso()
        elif self.batch == 1 and self.single == "viewProduct":
            e = self.event()
            body = {"query": VIEW_PRODUCT,
                    "variables": {"c": e["context"], "cat": e["categoryId"],
                                  "p": e["productId"]}}
        else:
            body = {"query": TRACK, "variables": {
                "e": [self.event() for _ in range(self.batch)], "s": _now_iso()}}
        return json.dumps(body, separators=(",", ":")).encode()


def _url(spec: dict[str, Any]) -> str:
    return spec["base"] + ("/track" if spec["target"] == "bare" else "/graphql")


def _failed(status: int, body: bytes) -> bool:
    return status != 200 or b'"errors"' in body or b'"error"' in body


async def _closed(spec: dict[str, Any]) -> dict[str, Any]:
    url, visitors = _url(spec), int(spec.get("visitors", 50))
    warmup, duration = float(spec.get("warmup", 1.0)), float(spec.get("duration", 4.0))
    began = time.perf_counter()
    start, stop = began + warmup, began + warmup + duration
    counts = {"requests": 0, "errors": 0}
    first_error: list[str] = []
    batch = int(spec.get("batch", 1))

    async def visitor(i: int) -> None:
        bodies = Bodies(spec, f"{spec['visitor_prefix']}{i}")
        connection = Connection(url)
        while time.perf_counter() < stop:
            status, body = await connection.post(bodies.next())
            done = time.perf_counter()
            if start <= done < stop:
                if _failed(status, body):
                    counts["errors"] += 1
                    if not first_error:
                        first_error.append(body[:500].decode(errors="replace"))
                else:
                    counts["requests"] += 1
        await connection.close()

    await asyncio.gather(*(visitor(i) for i in range(visitors)))
    return {"requests": counts["requests"], "events": counts["requests"] * batch,
            "errors": counts["errors"], "seconds": duration,
            "rps": counts["requests"] / duration, "eps": counts["requests"] * batch / duration,
            "first_error": first_error[0] if first_error else None}


async def _open(spec: dict[str, Any]) -> dict[str, Any]:
    url, visitors = _url(spec), int(spec.get("visitors", 50))
    rate = float(spec["rate"])
    warmup, duration = float(spec.get("warmup", 1.0)), float(spec.get("duration", 5.0))
    total = int(rate * (warmup + duration))
    queues: list[asyncio.Queue[float | None]] = [asyncio.Queue() for _ in range(visitors)]
    latencies: list[float] = []
    counts = {"errors": 0, "late_sends": 0}
    first_error: list[str] = []
    measured_from = float("inf")

    async def visitor(i: int) -> None:
        bodies = Bodies(spec, f"{spec['visitor_prefix']}{i}")
        queue, connection = queues[i], Connection(url)
        await connection.post(bodies.next())  # connect before the schedule starts
        while (scheduled := await queue.get()) is not None:
            status, body = await connection.post(bodies.next())
            done = time.perf_counter()
            if scheduled < measured_from:
                continue
            if _failed(status, body):
                counts["errors"] += 1
                if not first_error:
                    first_error.append(body[:500].decode(errors="replace"))
            else:
                latencies.append(done - scheduled)
        await connection.close()

    workers = [asyncio.create_task(visitor(i)) for i in range(visitors)]
    await asyncio.sleep(0.2)  # the connections are open
    t0 = time.perf_counter() + 0.05
    measured_from = t0 + warmup
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.002:
            counts["late_sends"] += 1  # the client itself fell behind the schedule
        queues[i % visitors].put_nowait(scheduled)
    for queue in queues:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    latencies.sort()
    achieved = len(latencies) / duration
    return {"latencies_ms": [round(v * 1000, 3) for v in latencies], "errors": counts["errors"],
            "late_sends": counts["late_sends"], "achieved_rps": achieved,
            "first_error": first_error[0] if first_error else None}


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    runs = []
    for run in range(int(spec.get("runs", 1))):
        spec = {**spec, "tag": f"{spec.get('tag', 'b')}{run}{uuid.uuid4().hex[:6]}"}
        spec.setdefault("visitor_prefix", "bv")
        run_ = _open if spec["mode"] == "open" else _closed
        runs.append(await asyncio.wait_for(run_(spec), timeout=120))
    cpu = time.process_time()
    return {"runs": runs, "client_cpu_seconds": cpu}


if __name__ == "__main__":
    try:
        from uvloop import run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        from asyncio import run
    print(json.dumps(run(main(json.loads(sys.argv[1])))))
