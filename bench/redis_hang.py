"""What a hung Redis costs a tracked event: latency with Redis answering, then frozen
(SIGSTOP), side by side on one server process.

    python -m bench.redis_hang [--events 200]

Each event is a `trackEvent` (it takes two rate-limit tokens from Redis and
publishes one trigger through it), sent one after another over one keep-alive
connection. Prints the median and the worst request of each phase and their ratio.
The first request of the frozen phase pays one Redis timeout (TRACKER_REDIS_TIMEOUT);
the circuit breakers spare the rest.
"""

from __future__ import annotations

import argparse
import time

import httpx

from bench.common import ServerProcess, percentile
from bench.redis import RedisServer

TRACK = ('mutation($c: TrackContext!) { trackEvent(context: $c, eventName: "promo") '
         "{ eventId } }")


def phase(http: httpx.Client, name: str, events: int) -> list[float]:
    took = []
    for i in range(events):
        began = time.perf_counter()
        answer = http.post("/graphql", json={"query": TRACK, "variables": {
            "c": {"shopId": 1, "visitorId": f"{name}-{i % 50}"}}})
        took.append(time.perf_counter() - began)
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200)
    events = parser.parse_args().events
    with RedisServer() as redis:
        server = ServerProcess(redis_url=redis.url).start()
        try:
            with httpx.Client(base_url=server.base, timeout=30) as http:
                phase(http, "warmup", 20)
                answering = phase(http, "up", events)
                redis.pause()
                try:
                    frozen = phase(http, "frozen", events)
                finally:
                    redis.resume()
        finally:
            server.stop()
    for name, took in (("Redis answering", answering), ("Redis frozen", frozen)):
        print(f"{name:16} median {percentile(took, 50) * 1000:7.2f} ms   "
              f"p99 {percentile(took, 99) * 1000:7.2f} ms   worst {max(took) * 1000:7.2f} ms")
    ratio = percentile(frozen, 50) / percentile(answering, 50)
    print(f"median ratio frozen/answering: {ratio:.2f}")


if __name__ == "__main__":
    main()
