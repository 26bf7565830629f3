"""Dashboard: time to first render of the overview with 10,000 events stored.

One bench server (embedded store). Shop 2 gets `events` events through
`importEvents` (100 per call, the real pipeline: sessions, carts, orders,
triggers), spread over the last seven days: visitors with sessions of about
twenty events each, a fifth of them logging in, some checking out. Shop 3 stays
empty. Headless Chromium (dashboard_js/bench/first-render.mjs) then opens
`/dashboard#/overview?range=7d` signed in to each shop in turn, and reads the
time from navigation start to the overview's figures being drawn (the page's
'overview-rendered' mark): one GraphQL request (stats, funnel, top products and
categories) plus the bundle and the chart. The overview's request alone is
timed too, from this process.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import ADMIN_KEY, ROOT, ServerProcess, median

DASHBOARD_JS = ROOT / "dashboard_js"
BIG, EMPTY = 2, 3
FIGURES = ("start visitors sessions identifiedVisitors productViews categoryViews cartAdds "
           "checkouts triggers")
# The overview's request, as dashboard_js/src/views/overview.js sends it.
OVERVIEW = (
    "query($s: Int!, $from: DateTime!, $to: DateTime!) {"
    f" stats(shopId: $s, from: $from, to: $to) {{ buckets {{ {FIGURES} }} totals {{ {FIGURES} }} }}"
    " funnel(shopId: $s, from: $from, to: $to) { sessions withProductView withCartAdd "
    "withCheckout } topProducts(shopId: $s, from: $from, to: $to, limit: 10) { productId views "
    "cartAdds purchases }"
    " topCategories(shopId: $s, from: $from, to: $to, limit: 10) { categoryId views productViews "
    "cartAdds purchases } }")


def post(base: str, query: str, variables: dict[str, Any], key: str = ADMIN_KEY) -> Any:
    request = urllib.request.Request(
        base + "/graphql", json.dumps({"query": query, "variables": variables}).encode(),
        {"content-type": "application/json", "authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=300) as response:
        body = json.loads(response.read())
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def history(shop_id: int, events: int, now: datetime, seed: int = 7) -> list[dict[str, Any]]:
    """`events` events of visitors browsing, over the last seven days, each visitor in order."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    visitor = 0
    while len(out) < events:
        visitor += 1
        at = now - timedelta(days=7) + timedelta(seconds=rng.randrange(7 * 86400 - 7200))
        vid, category = f"bv{visitor}", f"c{rng.randrange(20)}"
        for step in range(min(20, events - len(out))):
            at += timedelta(seconds=rng.randrange(20, 180))
            fields: dict[str, Any] = {"categoryId": category,
                                      "productId": f"p{rng.randrange(300)}"}
            kind = ("VISIT" if step == 0 else "CATEGORY_VIEW" if step % 7 == 1
                    else "CART_ADD" if step % 9 == 8 else "PRODUCT_VIEW")
            if step == 5 and visitor % 5 == 0:
                kind, fields = "LOGIN", {"userId": f"bu{visitor}"}
            elif step == 19 and visitor % 10 == 0:
                kind, fields = "CHECKOUT", {"orderId": f"bo{visitor}"}
            if kind in ("VISIT", "CATEGORY_VIEW"):
                fields.pop("productId")
            if kind == "VISIT":
                fields = {}
            context = {"shopId": shop_id, "visitorId": vid, "eventId": f"b{len(out)}",
                       "occurredAt": min(at, now).isoformat()}
            out.append({"type": kind, "context": context, **fields})
    return out


def seed(base: str, events: int) -> dict[str, str]:
    keys = {}
    for shop_id, name in ((BIG, "Busy shop"), (EMPTY, "Empty shop")):
        data = post(base, "mutation($id: Int!, $n: String!) { createShop(name: $n, shopId: $id) "
                    "{ apiKey } }", {"id": shop_id, "n": name})
        keys[name] = data["createShop"]["apiKey"]
    batch = history(BIG, events, datetime.now(UTC) - timedelta(minutes=1))
    for start in range(0, len(batch), 100):
        done = post(base, "mutation($id: Int!, $e: [TrackInput!]!) { importEvents(shopId: $id, "
                    "events: $e) { eventId } }", {"id": BIG, "e": batch[start:start + 100]})
        if not all(done["importEvents"]):
            raise RuntimeError("an import failed")
    return {"big": keys["Busy shop"], "empty": keys["Empty shop"]}


def overview_request(base: str, key: str, runs: int) -> list[float]:
    to = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    variables = {"s": BIG, "from": (to - timedelta(days=7)).isoformat(), "to": to.isoformat()}
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        post(base, OVERVIEW, variables, key)
        times.append((time.perf_counter() - began) * 1000)
    return times


def measure(events: int = 10_000, runs: int = 5) -> dict[str, Any]:
    with ServerProcess("graphql") as server:
        began = time.perf_counter()
        keys = seed(server.base, events)
        seeded = time.perf_counter() - began
        stored = post(server.base, "query($s: Int!, $from: DateTime!, $to: DateTime!) { stats("
                      "shopId: $s, from: $from, to: $to) { totals { productViews } } }",
                      {"s": BIG, "from": (datetime.now(UTC) - timedelta(days=8)).isoformat(),
                       "to": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
        spec = {"base": server.base, "hash": "#/overview?range=7d", "runs": runs, "shops": [
            {"label": "big", "shopId": BIG, "key": keys["big"]},
            {"label": "empty", "shopId": EMPTY, "key": keys["empty"]}]}
        done = subprocess.run(["node", "bench/first-render.mjs", json.dumps(spec)],
                              cwd=DASHBOARD_JS, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"first-render.mjs failed:\n{done.stderr[-4000:]}")
        render = json.loads(done.stdout.strip().splitlines()[-1])
        request = overview_request(server.base, keys["big"], runs)
    return {"events": events, "seed_seconds": seeded, "render": render, "request": request,
            "product_views": stored["stats"]["totals"]["productViews"],
            "ratio": [b / e for b, e in zip(render["big"], render["empty"], strict=True)],
            "median_big": median(render["big"]), "median_empty": median(render["empty"])}
