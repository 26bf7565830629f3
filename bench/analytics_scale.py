"""Rows 23.x: the dashboard's analytics at 10,000 and at 1,000,000 events (issue 23).

    python -m bench.analytics_scale [--quick | --smoke] [--out FILE]

runs this benchmark alone (default: bench/RESULTS-analytics.md); `python -m bench`
runs it with everything else.

In-process, embedded store (mongomock), memory broker, FakeClock, two shops side by
side, each in its own store (so that neither store's scans see the other's events):
`small` and `big` events (10,000 and 1,000,000; `--quick` 2,000 and 100,000): `small`
events tracked through `tracking.track` in batches of 100 (bench/analytics_traffic.py:
whole sessions, explicit event times over 30 days, the clock moved along); the big
shop the same amount tracked, then copied to `big` (analytics_traffic.copies: other
visitors, seconds later, inserted directly, each copied event pending for the traffic
rollups, `rolled: false`), then both shops' pending events and facts folded (`rebuild`:
app.analytics.fold and the performance rollups' app.attribution.fold, timed in row
23.8), so that no query pays for folding what was loaded, and the closing worker's looks
as the 30 days went by (app.analytics.keep_dense every CLOSING_EVERY: the dense sketches
of busy hours and days that closed). Then the overview's queries,
with the rollups on, each its own GraphQL request through the real app (httpx over
ASGI), the two shops' runs alternating: per query the median wall time at each size,
the ratio big / small (the target after the rollups: at most 1.5), and the documents
read and round trips of one request (`Storage.trips`, app/backends/storage.py:
finds count what they return, aggregations what their leading `$match` selects), and
how much of the time went to the folds' search for pending facts that every report
runs first (finds on events, sessions, triggers, orders: `_pending_search_seconds`),
which the embedded store answers by scanning the shop's documents (it has no
secondary indexes) and MongoDB from partial indexes holding only what is pending.

Ingestion: `track` of batches of 100 and of single events into two fresh stores, one
with the rollups (events born pending, and the traffic fold of the events each run
tracked, run at the end of the run inside its measured CPU: the rollups' full cost) and
one without (ROLLUPS_OFF: TRACKER_ANALYTICS_ROLLUPS=0, events not marked, no fold),
runs alternating (INGESTION_RUNS, each after a garbage collection), the same traffic on
both sides, events per CPU-second of this process (the machine is shared), the ratio
taken run by run. The performance rollups
(sessions, triggers, orders) fold on both sides in production: neither side runs them.

Row 23.10 (issue 23 item 7): storage round trips (`Storage.trips.total`) of the same
batches of 100 on both sides, and of the fold, per batch and visitor (a batch of 100
carries a few visitors' sessions; `track` works visitor by visitor): the extra is
(track with + fold - track without) / (batch, visitor) pairs; the target is at most 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from app import analytics, attribution
from app.backends.metrics import REGISTRY, sample
from app.core.clock import FakeClock
from app.platform import Platform, open_store
from app.server.asgi import create_app
from app.settings import Settings
from app.tracking import pipeline as tracking
from bench import analytics_traffic as traffic
from bench.common import ADMIN_KEY, ROOT, SECRET, Row, fmt, fmt_runs, load_average, machine

IDS = ("23.1", "23.2", "23.3", "23.4", "23.5", "23.6", "23.7", "23.8", "23.9", "23.10")
SIZES = {"full": (10_000, 1_000_000, 3), "quick": (2_000, 100_000, 3),
         "smoke": (200, 2_000, 1)}
ROLLUPS_OFF: dict[str, Any] = {"analytics_rollups": False}  # the "without" side
# A run is ~2 CPU-seconds: a collection of the whole heap (both stores) falls on either
# side at random, so more runs than the queries' for a steady median.
INGESTION_RUNS = 11

FIGURES = ("start visitors sessions identifiedVisitors productViews categoryViews cartAdds "
           "checkouts triggers")
STATS = ("query($s: Int!, $from: DateTime!, $to: DateTime!, $i: StatsInterval!) {"
         " stats(shopId: $s, from: $from, to: $to, interval: $i) {"
         f" buckets {{ {FIGURES} }} totals {{ {FIGURES} }} }} }}")
TOP_PRODUCTS = ("query($s: Int!, $from: DateTime!, $to: DateTime!) { topProducts(shopId: $s, "
                "from: $from, to: $to, limit: 10) { productId views cartAdds purchases } }")
TOP_CATEGORIES = ("query($s: Int!, $from: DateTime!, $to: DateTime!) { topCategories(shopId: $s,"
                  " from: $from, to: $to, limit: 10) { categoryId views productViews cartAdds "
                  "purchases } }")
FUNNEL = ("query($s: Int!, $from: DateTime!, $to: DateTime!) { funnel(shopId: $s, from: $from, "
          "to: $to) { sessions withProductView withCartAdd withCheckout } }")
MONTH = {"from": traffic.START.isoformat(), "to": traffic.END.isoformat()}
METHOD = (
    "Each figure is the median of the runs listed beside it. In-process, embedded store "
    "(mongomock), memory broker, FakeClock: the queries through the real app (httpx over "
    "ASGI), the two shops' runs alternating, each ratio taken run by run; ingestion "
    "through `tracking.track`, with the rollups and without (TRACKER_ANALYTICS_ROLLUPS=0) "
    "in two stores, runs alternating, events per CPU-second of this process (the traffic "
    "fold of each run's events inside its CPU on the side with them), each ratio taken run "
    "by run. The machine is shared: see the load average.")
STORE_CPU = "tracker_embedded_storage_cpu_seconds_total"
CLOSING_EVERY = timedelta(hours=6)  # the closing worker's reach back (closing.RECENT["h"])
WEEK = {"from": (traffic.END - timedelta(days=7)).isoformat(), "to": traffic.END.isoformat()}
QUERIES = {  # row id: (what, query, variables)
    "23.1": ("`stats`, 30 days by DAY", STATS, {**MONTH, "i": "DAY"}),
    "23.2": ("`stats`, 7 days by HOUR", STATS, {**WEEK, "i": "HOUR"}),
    "23.3": ("`topProducts`, 30 days", TOP_PRODUCTS, MONTH),
    "23.4": ("`topCategories`, 30 days", TOP_CATEGORIES, MONTH),
    "23.5": ("`funnel`, 30 days", FUNNEL, MONTH),
}


def log(message: str) -> None:
    print(f"[analytics {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def start(name: str, **changes: Any) -> Platform:
    settings = Settings(admin_key=ADMIN_KEY, secret=SECRET, demo_shop=True,
                        mongodb_db=f"bench_an_{name}_{uuid.uuid4().hex[:8]}",
                        request_timeout_seconds=3600.0, rate_api_per_key=1e9,
                        burst_api_per_key=1_000_000_000).with_(**changes)
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    platform = await Platform.start(settings, clock=FakeClock(traffic.START), storage=storage)
    await platform.shops.ensure_demo()
    return platform


async def stop(platform: Platform) -> None:
    await platform.stop()
    await platform.storage.drop()


async def load(platform: Platform, events: int, seed: int, copies: int = 1
               ) -> dict[str, float]:
    """Track `events` events in batches of 100, copy them (analytics_traffic.copies) to
    `copies` times as many, then rebuild; how long each part took."""
    began, cpu, stored = time.perf_counter(), time.process_time(), 0
    for clock, batch in traffic.batches(events, seed):
        platform.clock.set(clock)  # type: ignore[attr-defined]
        outcomes = await tracking.track(platform, batch)
        errors = [o.error for o in outcomes if o.error is not None]
        if errors:
            raise RuntimeError(f"tracking failed: {errors[0]}")
        stored += len(batch)
    platform.clock.set(traffic.END)  # type: ignore[attr-defined]
    tracked = time.perf_counter() - began
    out = {"tracked": stored, "track_seconds": tracked, "eps": stored / tracked,
           "eps_per_cpu": stored / max(1e-9, time.process_time() - cpu)}
    began = time.perf_counter()
    out["copied"] = await traffic.copies(platform.storage.db, copies,
                                         pending=platform.settings.analytics_rollups)
    out["copy_seconds"] = time.perf_counter() - began
    out.update(await rebuild(platform))
    out["events"] = await platform.storage.db.events.count_documents({})
    return out


async def rebuild(platform: Platform) -> dict[str, float]:
    """Fold every pending event of the shop into the traffic rollups (the tracked ones
    and the copies, inserted pending), and its sessions, triggers and orders into the
    performance rollups (whose shop-wide buckets give sessions and triggers per hour):
    what the worker would have done meanwhile, so that no query pays for it."""
    out: dict[str, float] = {}
    now = platform.clock.now()
    for name, fold in (("traffic", analytics.fold), ("performance", attribution.fold)):
        began, folded = time.perf_counter(), 0
        if platform.settings.analytics_rollups or name == "performance":
            while n := await fold(platform.storage, now, traffic.SHOP):
                folded += n
        out[f"{name}_folded"] = folded
        out[f"{name}_seconds"] = time.perf_counter() - began
    if platform.settings.analytics_rollups:
        # The closing worker (app/analytics/closing.py) looked every few minutes while the
        # 30 days went by; a look every 6 hours (its reach) writes what those would have.
        began, at, written = time.perf_counter(), traffic.START, 0
        while at <= now:
            written += await analytics.keep_dense(platform.storage, at)
            at += CLOSING_EVERY
        out["closing_written"], out["closing_seconds"] = written, time.perf_counter() - began
    return out


@contextlib.asynccontextmanager
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over ASGI, its lifespan run, workers off (the FakeClock stands still)."""
    app = create_app(platform.settings, platform=platform, run_workers=False)
    async with app.router.lifespan_context(app) as state:
        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, "state": dict(state or {})}, receive, send)

        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     timeout=3600) as http:
            yield http


async def ask(http: httpx.AsyncClient, platform: Platform, query: str,
              variables: dict[str, Any]) -> dict[str, Any]:
    """One request: wall ms, documents read and round trips, and its answer."""
    trips = platform.storage.trips
    trips.reset()
    scans = _pending_search_seconds()
    began = time.perf_counter()
    response = await http.post("/graphql", json={"query": query,
                                                 "variables": {"s": traffic.SHOP, **variables}},
                               headers={"authorization": f"Bearer {ADMIN_KEY}"})
    ms = (time.perf_counter() - began) * 1000
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"GraphQL failed: {response.status_code} {body}")
    return {"ms": ms, "scan_ms": (_pending_search_seconds() - scans) * 1000,
            "documents": trips.documents, "trips": trips.total,
            "by_collection": dict(trips.documents_by_collection), "data": body["data"]}


def _pending_search_seconds() -> float:
    """Seconds spent so far in finds on the facts the folds claim (events, sessions,
    triggers, orders; tracker_storage_duration_seconds): in these requests (whole days and
    hours, no raw edges) only the folds a report runs first looking for pending facts of
    the shop (`{rolled: false}`, `{idRolled: false}`): a scan of the shop's documents on
    the embedded store, the partial indexes' pending entries on MongoDB."""
    return sum(REGISTRY.get_sample_value("tracker_storage_duration_seconds_sum",
                                         {"collection": name, "operation": "find"}) or 0.0
               for name in ("events", "sessions", "triggers", "orders"))


async def queries(shops: dict[str, Platform], runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with client(shops["small"]) as small, client(shops["big"]) as big:
        http = {"small": small, "big": big}
        for rid, (what, query, variables) in QUERIES.items():
            log(f"{rid} {what}, {runs} runs at each size")
            seen: dict[str, list[dict[str, Any]]] = {"small": [], "big": []}
            for _ in range(runs):  # the sizes alternate, run by run
                for size in ("small", "big"):
                    seen[size].append(await ask(http[size], shops[size], query, variables))
            out[rid] = {size: {"ms": [r["ms"] for r in rs],
                               "scan_ms": [r["scan_ms"] for r in rs],
                               "documents": rs[-1]["documents"],
                               "trips": rs[-1]["trips"], "by_collection": rs[-1]["by_collection"],
                               "data": rs[-1]["data"]} for size, rs in seen.items()}
            out[rid]["ratio"] = [b["ms"] / s["ms"] for s, b in zip(seen["small"], seen["big"],
                                                                      strict=True)]
    return out


async def ingestion(runs: int, batches: int) -> dict[str, Any]:
    """Events per CPU-second of `track`, with the rollups (the fold of what a run tracked
    included) and without, of the whole process and of its own CPU (`own`: the embedded
    store's excluded); and the round trips of batches of 100 on each side."""
    sides = {"with": await start("ing_with"), "without": await start("ing_without",
                                                                      **ROLLUPS_OFF)}
    feeds = {side: traffic.batches(10_000_000, seed=11) for side in sides}
    out: dict[str, Any] = {kind: {"with": [], "without": [], "with_own": [], "without_own": [],
                                  "fold_share": []}
                           for kind in ("batch", "single")}
    out.update({
                "trips": {"with": 0, "without": 0, "fold": 0, "batches": 0, "pairs": 0,
                          "folded": 0}})
    try:
        for run in range(runs + 1):  # the first round warms both sides up, untimed
            for side, platform in sides.items():
                for kind in ("batch", "single"):
                    todo = [next(feeds[side]) for _ in range(batches)]
                    timed, own, share = await _track_run(platform, kind, todo, out["trips"],
                                                         side)
                    if run:
                        out[kind][side].append(timed)
                        out[kind][f"{side}_own"].append(own)
                        if side == "with":
                            out[kind]["fold_share"].append(share)
    finally:
        for platform in sides.values():
            await stop(platform)
    for kind in ("batch", "single"):
        for ratio, side in (("ratio", ""), ("own_ratio", "_own")):
            out[kind][ratio] = [w / wo for w, wo in zip(out[kind][f"with{side}"],
                                                        out[kind][f"without{side}"], strict=True)]
    return out


async def _track_run(platform: Platform, kind: str, todo: list[tuple[Any, list[Any]]],
                     trips: dict[str, int], side: str) -> tuple[float, float, float]:
    """One run's events per CPU-second, and per CPU-second of its own (the embedded store's
    CPU, `tracker_embedded_storage_cpu_seconds_total`, taken out: what the process would
    spend with MongoDB doing the storage's work, but the driver's encoding): the batches
    (or 20 single events of each), then, rollups on, the fold of what they stored. Batches
    of 100 also add up round trips (the two sides track the same traffic, in the same
    order); and the fold's share of the run's CPU."""
    counted = platform.storage.trips
    counted.reset()
    gc.collect()  # the last run's garbage is not this run's cost
    cpu, store, n = time.process_time(), sample(STORE_CPU), 0
    for clock, batch in todo:
        platform.clock.set(clock)  # type: ignore[attr-defined]
        if kind == "batch":
            await tracking.track(platform, batch)
            n += len(batch)
            continue
        for event in batch[:20]:  # single events: fewer of them
            await tracking.track(platform, [event])
            n += 1
    tracked_trips = counted.total
    tracked_cpu = time.process_time()
    folded = 0
    if platform.settings.analytics_rollups:
        while done := await analytics.fold(platform.storage, platform.clock.now(), traffic.SHOP):
            folded += done
    seconds = time.process_time() - cpu
    share = (time.process_time() - tracked_cpu) / max(1e-9, seconds)
    own = seconds - (sample(STORE_CPU) - store)
    if kind == "batch":
        trips[side] += tracked_trips
        if side == "with":
            trips["fold"] += counted.total - tracked_trips
            trips["folded"] += folded
            trips["batches"] += len(todo)
            trips["pairs"] += sum(len({e.context.visitor_id for e in batch}) for _, batch in todo)
    return n / max(1e-9, seconds), n / max(1e-9, own), share


async def measure_async(size: str) -> dict[str, Any]:
    small_n, big_n, runs = SIZES[size]
    shops = {"small": await start("small"), "big": await start("big")}
    try:
        log(f"loading {small_n:,} events, and {big_n:,}")
        loaded = {"small": await load(shops["small"], small_n, seed=1),
                  "big": await load(shops["big"], small_n, seed=2, copies=big_n // small_n)}
        answered = await queries(shops, runs)
    finally:
        for platform in shops.values():
            await stop(platform)
    log("track with rollups and without")
    ingest = await ingestion(1 if size == "smoke" else INGESTION_RUNS,
                             3 if size == "smoke" else 40)
    return {"size": size, "small": small_n, "big": big_n, "loaded": loaded,
            "queries": answered, "ingestion": ingest}


def measure(size: str = "full") -> dict[str, Any]:
    return asyncio.run(measure_async(size))


def _median(values: list[float]) -> float:
    return statistics.median(values)


def rows(r: dict[str, Any]) -> list[Row]:
    small, big = f"{r['small']:,}", f"{r['big']:,}"
    out = []
    for rid, (what, _, _) in QUERIES.items():
        q = r["queries"][rid]
        s, b = q["small"], q["big"]
        ratio = _median(q["ratio"])
        rest = {size: _median([ms - scan for ms, scan in zip(q[size]["ms"], q[size]["scan_ms"],
                                                              strict=True)]) for size in q
                if size != "ratio"}
        out.append(Row(rid, f"{what}: {small} / {big} events in the range, ms",
                       f"{fmt(_median(s['ms']))} / {fmt(_median(b['ms']))} "
                       f"(x{fmt(ratio, 2)})", "ratio <= 1.5", ratio <= 1.5, q["ratio"],
                       f"of which the search for pending facts {fmt(_median(s['scan_ms']))} / "
                       f"{fmt(_median(b['scan_ms']))} ms (the rest: {fmt(rest['small'])} / "
                       f"{fmt(rest['big'])} ms, x{fmt(rest['big'] / rest['small'], 2)}); "
                       f"documents read {s['documents']:,} / {b['documents']:,}, round trips "
                       f"{s['trips']} / {b['trips']}; big: " + ", ".join(
                           f"{k} {v:,}" for k, v in b["by_collection"].items())))
    ing = r["ingestion"]
    for rid, kind, label in (("23.6", "batch", "batches of 100"),
                             ("23.7", "single", "single events")):
        k = ing[kind]
        ratio = _median(k["ratio"])
        out.append(Row(rid, f"`track` {label}: events per CPU-second with rollups / without",
                       f"{fmt(_median(k['with']))} / {fmt(_median(k['without']))} "
                       f"(x{fmt(ratio, 2)})", ">= 0.9", ratio >= 0.9, k["ratio"],
                       "in-process, runs alternating; with: events pending and the "
                       "traffic fold of each run's events in its CPU; without: "
                       "TRACKER_ANALYTICS_ROLLUPS=0; the process's own CPU (the embedded "
                       f"store's taken out): {fmt(_median(k['with_own']))} / "
                       f"{fmt(_median(k['without_own']))} (x{fmt(_median(k['own_ratio']), 2)}; "
                       f"runs {fmt_runs(k['own_ratio'], 2)}); the fold "
                       f"{fmt(100 * _median(k['fold_share']), 0)}% of the with side's CPU"))
    lb = r["loaded"]["big"]
    out.append(Row("23.8", f"Loading the big shop: {lb['tracked']:,} events through `track` "
                   f"(batches of 100), then copied to {lb['events']:,}",
                   f"{fmt(lb['eps'])} events/s", "", None, [],
                   f"tracking {fmt(lb['track_seconds'], 0)} s ({fmt(lb['eps_per_cpu'])} per "
                   f"CPU-second), copies {fmt(lb['copy_seconds'], 0)} s "
                   f"({lb['copied']:,} documents), then folded: traffic rollups "
                   f"{fmt(lb['traffic_seconds'], 0)} s ({lb['traffic_folded']:,} events, "
                   f"{fmt(lb['traffic_folded'] / max(1e-9, lb['traffic_seconds']))} per s), "
                   f"performance rollups {fmt(lb['performance_seconds'], 0)} s "
                   f"({lb['performance_folded']:,} sessions, triggers and orders); the "
                   f"closing worker's looks {fmt(lb['closing_seconds'], 1)} s "
                   f"({lb['closing_written']:,} dense sketches)"))
    totals = r["queries"]["23.1"]["big"]["data"]["stats"]["totals"]
    out.append(Row("23.9", f"What the big shop holds ({big} events, 30 days)",
                   f"{totals['visitors']:,} visitors", "", None, [],
                   f"{totals['sessions']:,} sessions, {totals['productViews']:,} product views, "
                   f"{totals['cartAdds']:,} cart adds, {totals['checkouts']:,} checkouts "
                   "(stats totals)"))
    out.append(_trips_row(ing["trips"]))
    return out


def _trips_row(t: dict[str, int]) -> Row:
    """Item 7: the rollups' extra round trips per batch and visitor."""
    pairs = max(1, t["pairs"])
    extra = (t["with"] + t["fold"] - t["without"]) / pairs
    return Row("23.10", "Round trips the rollups add to `track`, per batch of 100 and visitor",
               fmt(extra, 2), "<= 1", extra <= 1, [],
               f"{t['batches']} batches, {t['pairs']} (batch, visitor) pairs: track "
               f"{t['with']:,} with / {t['without']:,} without "
               f"({fmt(t['with'] / pairs, 2)} / {fmt(t['without'] / pairs, 2)} per pair), "
               f"the fold {t['fold']:,} ({fmt(t['fold'] / pairs, 2)} per pair; "
               f"{t['folded']:,} events, {fmt(t['fold'] * 100 / max(1, t['folded']), 2)} "
               "per 100 events)")


def main(argv: list[str] | None = None) -> int:
    from bench.report import render

    parser = argparse.ArgumentParser(prog="python -m bench.analytics_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 and 100,000 events")
    parser.add_argument("--smoke", action="store_true", help="tiny, nothing judged")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-analytics.md")
    args = parser.parse_args(argv)
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    began = time.monotonic()
    meta = machine()
    meta["load_start"] = load_average()
    meta["command"] = "python -m bench.analytics_scale" + ("" if size == "full" else f" --{size}")
    found = rows(measure(size))
    meta["load_end"] = load_average()
    meta["elapsed"] = f"{time.monotonic() - began:.0f} s"
    args.out.write_text(render(found, meta, size == "smoke", method=METHOD))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
