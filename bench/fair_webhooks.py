"""Fair webhook sending (issue 22, items 4 and 5): another shop's webhook latency with and
without a noisy shop's endpoints, side by side on one server process.

    python -m bench.fair_webhooks [--probes 10] [--noise-events 5]

A raw receiver (asyncio, in this process) serves three kinds of path: `/ok/` answers
200 at once and notes when each webhook arrived; `/hang/` reads the request and never
answers; `/continue/` answers with `100 Continue` heads, one after another, for ever.
The server runs with a 4 s webhook timeout (the issue's figure) and its default slots.

The other shop (2) has one `/ok/` endpoint; its client sends one custom event at a time
and waits for its webhook: the latency is from the mutation to the webhook's arrival.
It is measured alone, then while shop 1 keeps its 20 `/hang/` endpoints busy (item 4),
then while, besides, shop 3's 10 `/continue/` endpoints stream heads (item 5); each
noisy median is printed as a ratio of the one alone, with the server's CPU share
(CPU seconds per wall second) while the other shop's probes ran beside the noise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time

import httpx

from bench.common import ADMIN_KEY, ServerProcess, percentile
from bench.redis import free_port

AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}
CREATE = 'mutation($s: Int!) { createShop(name: "Shop", shopId: $s) { apiKey } }'
ADD = ("mutation($s: Int!, $u: String!) { addWebhookEndpoint(shopId: $s, url: $u, "
       "types: [CUSTOM_EVENT]) { endpoint { endpointId } } }")
EVENT = ('mutation($c: TrackContext!, $n: String!) { trackEvent(context: $c, eventName: $n) '
         "{ eventId } }")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"


class RawReceiver:
    """The receiver, on its own event loop in a thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived = threading.Condition()
        self.ok = 0  # webhooks answered on /ok/
        self.noise_requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, kind: str, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/{name}"

    def __enter__(self) -> RawReceiver:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        with contextlib.suppress(RuntimeError):
            self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if path.startswith("/ok/"):
                await reader.readexactly(length)
                writer.write(OK)
                await writer.drain()
                with self.arrived:
                    self.ok += 1
                    self.arrived.notify_all()
            elif path.startswith("/hang/"):
                self.noise_requests += 1
                await reader.read()  # until the sender gives up and closes
            else:
                self.noise_requests += 1
                while True:  # informational heads until the sender closes
                    writer.write(CONTINUE)
                    await writer.drain()
                    await asyncio.sleep(0)
        writer.close()


def probe(http: httpx.Client, receiver: RawReceiver, n: int) -> float:
    """One custom event of shop 2, to the arrival of its webhook (seconds)."""
    with receiver.arrived:
        before = receiver.ok
    began = time.perf_counter()
    answer = http.post("/graphql", json={"query": EVENT, "variables": {
        "c": {"shopId": 2, "visitorId": f"other-{n}"}, "n": "probe"}})
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    with receiver.arrived:
        if not receiver.arrived.wait_for(lambda: receiver.ok > before, 120):
            raise RuntimeError("shop 2's webhook never arrived")
    return time.perf_counter() - began


def noisy_shop(http: httpx.Client, receiver: RawReceiver, shop: int, kind: str,
               endpoints: int, events: int) -> None:
    """The noisy shop's endpoints of `kind`, and `events` custom events for all of them."""
    for i in range(endpoints):
        graphql(http, ADD, {"s": shop, "u": receiver.url(kind, f"{kind}{i}")})
    for i in range(events):
        graphql(http, EVENT, {"c": {"shopId": shop, "visitorId": f"noise-{kind}-{i}"},
                              "n": "noise"})


def keep_sending(base: str, shop: int, stop: threading.Event) -> None:
    """More of the noisy shop's events, one each 50 ms, while the probes run."""
    with httpx.Client(base_url=base, timeout=120) as http:
        n = 0
        while not stop.wait(0.05):
            n += 1
            graphql(http, EVENT, {"c": {"shopId": shop, "visitorId": f"more-{n}"},
                                  "n": "noise"})


def graphql(http: httpx.Client, query: str, variables: dict | None = None) -> dict:
    answer = http.post("/graphql", json={"query": query, "variables": variables or {}},
                       headers=AUTH)
    body = answer.json()
    assert answer.status_code == 200 and not body.get("errors"), answer.text
    return body["data"]


def run(probes: int = 10, noise_events: int = 5) -> dict[str, float]:
    """The other shop's webhook latency alone, beside hanging and beside endless heads."""
    figures: dict[str, float] = {}
    env = {"TRACKER_WEBHOOK_TIMEOUT": "4", "TRACKER_WEBHOOK_POLL_SECONDS": "0.05"}
    with RawReceiver() as receiver, ServerProcess("graphql", env=env) as server, \
            httpx.Client(base_url=server.base, timeout=120) as http:
        for shop in (2, 3):
            graphql(http, CREATE, {"s": shop})
        graphql(http, ADD, {"s": 2, "u": receiver.url("ok", "other")})
        probe(http, receiver, -1)  # warm: the first webhook opens the sender's connections
        alone = [probe(http, receiver, n) for n in range(probes)]
        figures["alone_p50_ms"] = percentile(alone, 50) * 1000
        # Item 4 on the demo shop 1, item 5 on shop 3 (shop 1's noise still going on).
        for shop, kind, endpoints in ((1, "hang", 20), (3, "continue", 10)):
            began = receiver.noise_requests
            noisy_shop(http, receiver, shop, kind, endpoints, noise_events)
            deadline = time.monotonic() + 30
            while receiver.noise_requests - began < endpoints and time.monotonic() < deadline:
                time.sleep(0.05)  # the noise is under way: every noisy endpoint is in flight
            stop = threading.Event()
            sender = threading.Thread(target=keep_sending, args=(server.base, shop, stop),
                                      daemon=True)
            sender.start()
            cpu, wall = server.cpu_seconds(), time.perf_counter()
            try:
                noisy = [probe(http, receiver, n) for n in range(probes)]
            finally:
                stop.set()
                sender.join(30)
            figures[f"{kind}_cpu_share"] = ((server.cpu_seconds() - cpu)
                                            / (time.perf_counter() - wall))
            figures[f"{kind}_p50_ms"] = percentile(noisy, 50) * 1000
            figures[f"{kind}_ratio"] = figures[f"{kind}_p50_ms"] / figures["alone_p50_ms"]
        figures["noise_requests"] = receiver.noise_requests
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--noise-events", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.probes, args.noise_events), indent=2))


if __name__ == "__main__":
    main()
