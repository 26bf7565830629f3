"""A bench server: `python -m bench.server --app graphql|bare --port N [--preload N]`.

The GraphQL server is the real one (`app.server.asgi.create_app`, settings from the
environment); the bare one is bench/bare.py. With `--preload N`, N synthetic
event documents, shaped like the pipeline's, are bulk-inserted into the
server's own (embedded) store after it starts and before it serves, so that
throughput can be measured with a large events collection.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette

from app.core.clock import to_ms
from app.platform import Platform
from app.server.asgi import create_app
from app.server.cli import freeze_startup_heap
from app.settings import Settings
from bench.bare import create_bare_app, create_floor_app

log = logging.getLogger("bench.server")

TYPES = ("PRODUCT_VIEW", "PRODUCT_VIEW", "PRODUCT_VIEW", "CATEGORY_VIEW", "SECTION_VIEW",
         "CART_ADD", "VISIT")


def synthetic_events(platform: Platform, n: int, visitors: int = 2000) -> list[dict[str, Any]]:
    """N event documents as `app.tracking.pipeline._event_doc` writes them, over 30 days."""
    now = platform.clock.now()
    span_ms = 30 * 86_400_000
    docs = []
    for i in range(n):
        at = now - timedelta(milliseconds=span_ms * (n - i) // max(n, 1))
        visitor = f"pre{i % visitors}"
        identified = i % 5 == 0
        kind = TYPES[i % len(TYPES)]
        doc: dict[str, Any] = {
            "_id": f"1:pre{i}", "eventId": f"pre{i}", "shopId": 1, "type": kind,
            "visitorId": visitor, "userId": f"user{i % visitors}" if identified else None,
            "sessionId": f"{visitor}.{to_ms(at) // 3_600_000 * 3_600_000}",
            "sourceId": "site", "occurredAt": at, "receivedAt": at,
            "url": f"https://shop.example/p/{i % 500}",
        }
        if kind in ("PRODUCT_VIEW", "CART_ADD", "CATEGORY_VIEW"):
            doc["categoryId"] = f"c{i % 20}"
        if kind in ("PRODUCT_VIEW", "CART_ADD"):
            doc["productId"] = f"p{i % 500}"
        if kind == "CART_ADD":
            doc["quantity"], doc["price"] = 1, 9.5
        if kind == "SECTION_VIEW":
            doc["pageName"] = "sale"
        if not identified:
            doc["expireAt"] = at + timedelta(days=60)
        docs.append(doc)
    return docs


async def preload(platform: Platform, n: int, chunk: int = 20_000) -> float:
    """Bulk-insert N event documents straight into the store; returns the seconds it took."""
    began = time.perf_counter()
    docs = synthetic_events(platform, n)
    for start in range(0, n, chunk):
        await platform.storage.events.raw.insert_many(docs[start:start + chunk], ordered=False)
    return time.perf_counter() - began


def build(kind: str, preload_events: int = 0) -> Starlette:
    settings = Settings.from_env()
    if kind == "floor":
        return create_floor_app(settings)
    # BENCH_WORKERS=0: no background workers, the request path alone (bench/split.py).
    workers = os.environ.get("BENCH_WORKERS", "1") != "0"
    app = create_app(settings, run_workers=workers) if kind == "graphql" \
        else create_bare_app(settings)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[Any]:
        async with inner(application) as state:
            if preload_events:
                seconds = await preload(state["platform"], preload_events)
                count = await state["platform"].storage.events.raw.count_documents({})
                print(f"bench: preloaded {count} events in {seconds:.1f}s", flush=True)
            freeze_startup_heap()  # as the real server does once it has started
            yield state

    app.router.lifespan_context = lifespan
    return app


def watch_gc() -> None:
    """Record every collection's pause; print the counts and the longest at exit."""
    import atexit
    import gc

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - began[0])

    gc.callbacks.append(callback)

    def report() -> None:
        for generation, values in pauses.items():
            if values:
                print(f"bench: gc gen{generation}: {len(values)} pauses, "
                      f"total {sum(values) * 1000:.0f} ms, longest {max(values) * 1000:.1f} ms",
                      flush=True)

    atexit.register(report)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--app", default="graphql", choices=("graphql", "bare", "floor"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--preload", type=int, default=0)
    parser.add_argument("--gc-stats", action="store_true",
                        help="print the garbage collector's pauses at exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    kind = args.app
    # As `python -m app` serves, less the access log (one line per request).
    if args.gc_stats:
        watch_gc()
    uvicorn.run(build(kind, args.preload), host=args.host, port=args.port,
                log_level="warning", access_log=False, proxy_headers=True)


if __name__ == "__main__":
    main()
