"""The catalog (section 15): an upsert of 1,000 products, a 200,000-offer feed, and the
fan-out of one price drop to 100,000 customers.

In-process, embedded store, memory broker, FakeClock, like bench/audiences.py.

Upsert: `platform.catalog.upsert` of 1,000 new products, then of the same 1,000 with a
lower price (each records a drop for the fan-out), timed and counted
(`platform.storage.trips`).

Feed: a YML file of `offers` offers (about 250 bytes each: 200,000 make 50 MB;
categories tree, CDATA names, old prices, some unavailable), served by a local HTTP
server, imported with `import_feed` (download to a temporary file, a safety pass, then
batches of 1,000 through the upsert), timed; the peak memory of reading it is
tracemalloc's peak over a parse of the whole file (Python allocations: what holding
its tree would show).

Fan-out: `customers` identified customers with an interest in one product (written
as the tracker writes them, app/interests.py), one PRICE_DROPPED rule, one drop; the
worker's `tick` is run until nothing is left, and the time until every trigger is
stored is taken from the upsert's answer.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import tempfile
import threading
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import interests
from app.catalog import import_feed, tick
from app.catalog.feeds import offers as read_offers
from app.core.clock import FakeClock
from app.platform import Platform, open_store
from app.settings import Settings
from bench.common import ADMIN_KEY, SECRET

WEIGHTS = {"productViewProduct": 2.0, "productViewCategory": 1.0}


async def start() -> Platform:
    settings = Settings(admin_key=ADMIN_KEY, secret=SECRET, demo_shop=True,
                        mongodb_db=f"bench_cat_{uuid.uuid4().hex[:8]}",
                        webhook_allow_private=True)
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    platform = await Platform.start(settings, clock=FakeClock(datetime(2026, 3, 1, tzinfo=UTC)),
                                    storage=storage)
    await platform.shops.ensure_demo()
    return platform


async def stop(platform: Platform) -> None:
    await platform.stop()
    await platform.storage.drop()


def products(count: int, price: float) -> list[dict[str, Any]]:
    return [{"productId": f"sku-{n}", "name": f"Product {n}", "categoryId": f"c{n % 50}",
             "url": f"https://shop.example/p/{n}", "imageUrl": f"https://shop.example/i/{n}.jpg",
             "price": price + n, "currency": "RUB"} for n in range(count)]


async def upsert(count: int) -> dict[str, Any]:
    platform = await start()
    try:
        out: dict[str, Any] = {"count": count}
        for name, price in (("created", 1000.0), ("lowered", 900.0)):
            platform.storage.trips.reset()
            began = time.perf_counter()
            result = await platform.catalog.upsert(1, products(count, price))
            out[name] = {"ms": (time.perf_counter() - began) * 1000,
                         "trips": platform.storage.trips.total,
                         "changes": result.changes, "created": result.created,
                         "updated": result.updated}
        return out
    finally:
        await stop(platform)


def write_feed(path: Path, count: int) -> int:
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<yml_catalog date="2026-03-01 09:00">'
                "<shop><name>Bench</name><currencies><currency id=\"RUR\" rate=\"1\"/>"
                "</currencies><categories>")
        for c in range(50):
            parent = f' parentId="{c // 10}"' if c >= 10 else ""
            f.write(f'<category id="c{c}"{parent}>Category {c}</category>')
        f.write("</categories><offers>\n")
        for n in range(count):
            gone = ' available="false"' if n % 10 == 0 else ""
            f.write(f'<offer id="s{n}"{gone}>'
                    f"<url>https://s.ex/p/{n}</url><price>{1000 + n}.5</price>"
                    f"<oldprice>{1200 + n}</oldprice><currencyId>RUR</currencyId>"
                    f"<categoryId>c{n % 50}</categoryId>"
                    f"<picture>https://s.ex/i/{n}.jpg</picture>"
                    f"<name><![CDATA[Shoe {n} \"B\" & Co]]></name></offer>\n")
        f.write("</offers></shop></yml_catalog>\n")
    return path.stat().st_size


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


async def feed(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        size = write_feed(Path(folder) / "feed.yml", count)
        handler = functools.partial(Quiet, directory=folder)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        platform = await start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/feed.yml"
            began = time.perf_counter()
            result = await import_feed(platform.catalog, 1, url, allow_private=True)
            seconds = time.perf_counter() - began
            tracemalloc.start()
            parsed = sum(1 for _ in read_offers(str(Path(folder) / "feed.yml")))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            server.shutdown()
            await stop(platform)
    return {"offers": count, "bytes": size, "seconds": seconds, "created": result.created,
            "rejected": result.rejected, "parsed": parsed, "peak_bytes": peak}


async def fan_out(customers: int) -> dict[str, Any]:
    platform = await start()
    try:
        await platform.rules.create(1, {"type": "PRICE_DROPPED"})
        await platform.catalog.upsert(1, [{"productId": "hit", "price": 1000.0, "name": "Hit"}])
        now = platform.clock.now()
        for first in range(0, customers, 10_000):
            deltas = {f"u{n}": interests.interactions("productView", "c", "hit", now, WEIGHTS)
                      for n in range(first, min(first + 10_000, customers))}
            await interests.write(platform.storage.interests, 1, deltas)
        began = time.perf_counter()
        await platform.catalog.upsert(1, [{"productId": "hit", "price": 800.0}])
        answered = time.perf_counter() - began
        stored = 0
        while True:
            fired = await tick(platform)
            stored += fired
            if not fired:
                break
        seconds = time.perf_counter() - began
        count = await platform.storage.db.triggers.count_documents({"type": "PRICE_DROPPED"})
        return {"customers": customers, "stored": count, "seconds": seconds,
                "upsert_ms": answered * 1000, "per_second": count / seconds}
    finally:
        await stop(platform)


async def measure(products_count: int, offers: int, customers: int) -> dict[str, Any]:
    return {"upsert": await upsert(products_count), "feed": await feed(offers),
            "fanout": await fan_out(customers)}


if __name__ == "__main__":  # python -m bench.catalog: this section alone
    import json
    import sys

    counts = [int(a) for a in sys.argv[1:4]] or [1000, 200_000, 100_000]
    print(json.dumps(asyncio.run(measure(*counts)), indent=1, default=str))
