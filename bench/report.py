"""bench/RESULTS.md: the table of figures, their targets, and whether each is met."""

from __future__ import annotations

from typing import Any

from bench.common import Row, fmt, fmt_runs, median

ROUNDTRIP_CASES = ("anonymous, first of session", "anonymous, continuing",
                   "identified, first of session", "identified, continuing")

# Every row the table has, by id; the smoke test checks that each one is there.
ROW_IDS = (
    "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "1.10", "1.11", "1.12",
    "1.13", "1.14", "1.15", "1.16",
    "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "2.11", "2.12",
    "2.13", "2.14", "2.15", "2.16", "2.17",
    "3.1", "3.2",
    "4.1", "4.2", "4.3", "4.4",
    "5.1", "5.2", "5.3", "5.4", "5.5",
    "6.1", "6.2", "6.3", "6.4",
    "14.1", "14.2",
    "17.1", "17.2", "17.3", "17.4", "17.5", "17.6", "17.7", "17.8",
    "13.1", "13.2", "13.3",
    "9.1", "9.2", "9.3", "9.4", "9.5", "9.6",
    "18.1", "18.2", "18.3", "18.4", "18.5", "18.6", "18.7", "18.8",
    "15.1", "15.2", "15.3",
    "26.1", "26.2", "26.3", "26.4", "26.5", "26.6", "26.7", "26.8",
    "23.1", "23.2", "23.3", "23.4", "23.5", "23.6", "23.7", "23.8", "23.9", "23.10",
    "27.1", "27.2",
)


def _eps_row(rid: str, name: str, block: dict[str, Any], cpu: dict[str, Any] | None,
             target: str = "", threshold: float | None = None) -> Row:
    value = block["median"]
    note = f"{fmt(cpu['median'])} per server CPU-second" if cpu else ""
    met = None if threshold is None else value >= threshold
    return Row(rid, name, fmt(value), target, met, block["runs"], note)


def ingestion_rows(r: dict[str, Any]) -> list[Row]:
    rows = []
    b1, b10, b100 = r["batch1"], r["batch10"], r["batch100"]
    rows.append(_eps_row("1.1", "Single-event mutations/s (`viewProduct`), GraphQL",
                         b1["graphql_eps"], b1["graphql_eps_per_cpu"], ">= 3,000", 3000))
    rows.append(_eps_row("1.2", "Events/s, batch `track` mutation, 10 per request, GraphQL",
                         b10["graphql_eps"], b10["graphql_eps_per_cpu"]))
    rows.append(_eps_row("1.3", "Events/s, batch `track` mutation, 100 per request, GraphQL",
                         b100["graphql_eps"], b100["graphql_eps_per_cpu"], ">= 20,000", 20000))
    rows.append(_eps_row("1.4", "Single events/s, bare endpoint (same `tracking.track`)",
                         b1["bare_eps"], b1["bare_eps_per_cpu"]))
    rows.append(_eps_row("1.5", "Events/s, bare endpoint, 10 per request",
                         b10["bare_eps"], b10["bare_eps_per_cpu"]))
    rows.append(_eps_row("1.6", "Events/s, bare endpoint, 100 per request",
                         b100["bare_eps"], b100["bare_eps_per_cpu"]))
    for rid, label, block in (("1.7", "single event", b1), ("1.8", "10 per request", b10),
                              ("1.9", "100 per request", b100)):
        ratio = block["ratio"]
        bare_cpu = block["bare_eps_per_cpu"]["median"]  # 0: a run completed nothing (smoke)
        cpu_ratio = block["graphql_eps_per_cpu"]["median"] / bare_cpu if bare_cpu else float("nan")
        rows.append(Row(rid, f"Ratio GraphQL / bare, {label}", fmt(ratio["median"], 2),
                        ">= 0.6", ratio["median"] >= 0.6, ratio["runs"],
                        f"per CPU-second: {fmt(cpu_ratio, 2)}"))
    t1 = r["track1"]
    rows.append(_eps_row("1.10", "Single events/s via batch `track` with 1 item (as the "
                         "tracker sends), GraphQL", t1["graphql_eps"], t1["graphql_eps_per_cpu"]))
    lat = r["latency"]
    g, b = lat["graphql"], lat["bare"]
    rate = fmt(r["config"]["rate"])
    rows.append(Row("1.11", f"Latency p50 / p99 at {rate} requests/s (open loop), GraphQL "
                    "`viewProduct`",
                    f"{fmt(g['p50']['median'], 1)} / {fmt(g['p99']['median'], 1)} ms",
                    "p99 < 20 ms", g["p99"]["median"] < 20, g["p99"]["runs"],
                    f"max {fmt(g['max']['median'], 1)} ms; served "
                    f"{fmt(g['achieved_rps']['median'])} req/s"))
    rows.append(Row("1.12", f"Latency p50 / p99 at {rate} requests/s, bare endpoint",
                    f"{fmt(b['p50']['median'], 1)} / {fmt(b['p99']['median'], 1)} ms", "", None,
                    b["p99"]["runs"], f"max {fmt(b['max']['median'], 1)} ms"))
    pre1, pre100 = r["preload_batch1"], r["preload_batch100"]
    rid = 13
    for pre, what in ((pre1, "Single-event mutations/s"),
                      (pre100, "Events/s, 100 per request,")):
        base, base_cpu = pre["0"]["eps"]["median"], pre["0"]["eps_per_cpu"]["median"]
        for n in r["config"]["preloads"]:
            block = pre[str(n)]
            value, cpu = block["eps"]["median"], block["eps_per_cpu"]["median"]
            rel = cpu / base_cpu if base_cpu else float("nan")
            rows.append(Row(f"1.{rid}", f"{what} GraphQL, {n:,} events already stored",
                            fmt(value), "per CPU-second within 15% of the empty store's",
                            abs(rel - 1) <= 0.15, block["eps"]["runs"],
                            f"{fmt(cpu)} per CPU-second = {fmt(100 * rel)}% of the empty "
                            f"store's {fmt(base_cpu)} (wall: {fmt(base)}/s) in the same runs"))
            rid += 1
    return rows


def roundtrip_rows(r: dict[str, Any]) -> list[Row]:
    rows = []
    for i, (type_, row) in enumerate(r["table"].items(), start=1):
        counts = [row[c].trips for c in ROUNDTRIP_CASES]
        worst = max(counts)
        rows.append(Row(f"2.{i}", f"Round trips per tracked `{type_}` (worst case)",
                        str(worst), "<= 3", worst <= 3, [],
                        "anon first / anon cont. / ident. first / ident. cont.: "
                        + " / ".join(map(str, counts))))
    n = len(r["table"])
    rows.append(Row(f"2.{n + 1}", "Round trips of a duplicate (same `eventId` again)",
                    str(r["duplicate"].trips), "", None, [],
                    ", ".join(f"{k} {v}" for k, v in r["duplicate"].by_collection.items())))
    for j, (name, counted) in enumerate(r["batches"].items(), start=n + 2):
        rows.append(Row(f"2.{j}", f"Round trips per batch of 100 from one visitor: {name}",
                        str(counted.trips), "<= 10", counted.trips <= 10, [],
                        ", ".join(f"{k} {v}" for k, v in counted.by_collection.items())))
    return rows


def trigger_rows(r: dict[str, Any]) -> list[Row]:
    if "skipped" in r:
        return [Row("3.1", "Trigger latency p50", "skipped", "", None, [], r["skipped"]),
                Row("3.2", "Trigger latency p99", "skipped", "< 50 ms", None, [], r["skipped"])]
    p50 = [x["p50"] for x in r["rounds"]]
    p99 = [x["p99"] for x in r["rounds"]]
    missing = sum(x["missing"] for x in r["rounds"])
    samples = sum(x["samples"] for x in r["rounds"])
    setup = (f"{r['subscribers']} subscribers over 2 processes, {fmt(r['rate'])} triggers/s, "
             f"{samples:,} deliveries, {missing} missing")
    cpu = r.get("server_cpu_ms_per_delivery")
    return [
        Row("3.1", "Trigger latency p50, mutation -> subscriber (real Redis)",
            f"{fmt(median(p50), 1)} ms", "", None, p50, setup),
        Row("3.2", "Trigger latency p99, mutation -> subscriber (real Redis)",
            f"{fmt(median(p99), 1)} ms", "< 50 ms", median(p99) < 50 and not missing, p99,
            f"servers' CPU per delivery {fmt(cpu or float('nan'), 2)} ms"),
    ]


def cart_rows(r: dict[str, Any], tick: float = 1.0) -> list[Row]:
    runs = r["runs"]
    trips = [x["trips"] for x in runs]
    secs = [x["tick_seconds"] for x in runs]
    p50 = [x["due_to_fired_p50"] for x in runs]
    mx = [x["due_to_fired_max"] for x in runs]
    # A cart due just after a tick began waits for that tick, the interval, then its publish.
    worst = [s + m for s, m in zip(secs, mx, strict=True)]
    by = runs[0]["by_collection"]
    ok = all(x["fired"] == r["due"] and x["still_due"] == 0 for x in runs)
    kept = f"{r['kept']:,} carts kept, {r['due']:,} due"
    return [
        Row("4.1", f"Storage round trips per worker tick ({kept})", fmt(median(trips)), "",
            None, trips, ", ".join(f"{k} {v}" for k, v in by.items())
            + ("" if ok else "; NOT ALL FIRED")),
        Row("4.2", "Worker tick duration (`fire_due`, wall)", f"{fmt(median(secs), 2)} s", "",
            None, secs, f"fired {runs[0]['fired']:,}"),
        Row("4.3", f"Due -> fired, p50 / max ({fmt(tick, 0)} s tick)",
            f"{fmt(median(p50), 2)} / {fmt(median(mx), 2)} s", "", None, mx,
            "due during the last tick interval; fired = trigger published"),
        Row("4.4", "Due -> fired, worst case when every tick is this busy",
            f"{fmt(median(worst), 2)} s", "<= 5 s (contract)", median(worst) <= 5, worst,
            "tick interval + previous tick's duration + publish offset"),
    ]


def session_rows(r: dict[str, Any], tick: float = 1.0) -> list[Row]:
    """Abandoned browse / category: one worker tick with many open sessions."""
    runs = r["runs"]
    trips = [x["trips"] for x in runs]
    secs = [x["tick_seconds"] for x in runs]
    worst = [s + x["due_to_fired_max"] for s, x in zip(secs, runs, strict=True)]
    by = runs[0]["by_collection"]
    ok = all(x["fired"] == r["due"] == x["published"] and x["still_due"] == 0 for x in runs)
    kept = f"{r['kept']:,} open sessions, {r['due']:,} due"
    return [
        Row("13.1", f"Storage round trips per abandoned-session worker tick ({kept})",
            fmt(median(trips)), "", None, trips,
            ", ".join(f"{k} {v}" for k, v in by.items()) + ("" if ok else "; NOT ALL FIRED")),
        Row("13.2", "Abandoned-session worker tick duration (`fire_due_sessions`, wall)",
            f"{fmt(median(secs), 2)} s", "", None, secs,
            f"fired {runs[0]['fired']:,} ABANDONED_BROWSE"),
        Row("13.3", "Session due -> browse trigger fired, worst case when every tick is this busy",
            f"{fmt(median(worst), 2)} s", "<= 5 s (contract)", median(worst) <= 5, worst,
            f"{fmt(tick, 0)} s tick: due just after a tick began + the interval + this tick"),
    ]


def session_query(r: dict[str, Any]) -> str:
    """The due-time query of the abandoned-session worker and the index that serves it."""
    return "\n".join([
        "## Abandoned sessions: the due-time query", "",
        "Each tick asks `visitors` (current sessions) and `sessions` (closed ones) for",
        "", "```", r["query"], "```", "",
        "sorted by `wDueMs`, at most 1,000 at a time, served on both collections by the "
        "partial index", "", "```", r["index"], "```", "",
        "which holds only identified, watched sessions: its size, and a tick's cost, follow "
        "the sessions that can still fire, not the sessions kept. "
        "`tests/abandonment/test_abandonment.py` checks that the round trips of a tick "
        "do not grow with the open sessions, and (against MongoDB, with "
        "`TRACKER_TEST_MONGODB_URL`) that "
        "`explain()` picks `abandonment_due`.",
    ])


def size_rows(r: dict[str, Any]) -> list[Row]:
    from bench.size import PEERS

    rows = [Row("5.1", "Tracker `app/static/tracker.min.js`, bytes after gzip -9",
                f"{r['gzip9']:,} B", "<= 3,000 B", r["gzip9"] <= 3000, [],
                f"{r['raw']:,} B minified; measured with {r['how']}")]
    for i, (name, path, size) in enumerate(PEERS, start=2):
        rows.append(Row(f"5.{i}", f"{name} ({path}), gzip -9", f"{size:,} B", "", None, [],
                        f"as measured by the issue author; ours is "
                        f"{100 * r['gzip9'] / size:.0f}% of it"))
    return rows


def dashboard_rows(r: dict[str, Any]) -> list[Row]:
    from bench.size import dashboard_gzip9

    big, empty, request = r["render"]["big"], r["render"]["empty"], r["request"]
    ratio = median(r["ratio"])
    stored = f"{r['events']:,} events stored ({r['product_views']:,} product views in the range)"
    size, how = dashboard_gzip9()
    return [
        Row("6.1", f"Dashboard overview, time to first render, {r['events']:,} events stored",
            f"{fmt(median(big))} ms", "", None, big,
            f"headless Chromium, navigation start to figures drawn, last 7 days; {stored}; "
            f"{fmt(ratio, 1)}x the empty shop's in the same runs"),
        Row("6.2", "Dashboard overview, time to first render, empty shop",
            f"{fmt(median(empty))} ms", "", None, empty, "the same server, runs alternating"),
        Row("6.3", f"Overview's GraphQL request alone, {r['events']:,} events stored",
            f"{fmt(median(request))} ms", "", None, request,
            "stats + funnel + top products + top categories, embedded store (mongomock)"),
        Row("6.4", "Dashboard `app/static/dashboard.js` + `.css`, bytes after gzip -9",
            f"{size:,} B", "<= 81,920 B", size <= 81920, [], f"measured with {how}"),
    ]


def audience_rows(r: dict[str, Any]) -> list[Row]:
    """Live interest audiences (bench/audiences.py)."""
    i, trips = r["interaction"], r["interaction"]["trips"]
    none, plain = trips["100 audiences, none over the product or category viewed"], \
        trips["0 audiences"]
    states = ("over what is viewed, below minScore", "entering", "a member, lifted again")
    rows = [
        Row("9.1", "Round trips of a product view (identified), 0 audiences / 100 audiences "
            "none over what is viewed", f"{plain} / {none}", "no extra", none == plain, [],
            "the audiences come with the shop document, which is cached"),
        Row("9.2", "Round trips of a product view, 100 audiences over what is viewed: "
            "below minScore / entering / a member lifted again",
            " / ".join(str(trips[s]) for s in states), "", None, [],
            f"against {plain} without audiences: + read of the new stored values; entering "
            "+ memberships read, write, trigger, settle"),
    ]
    for rid, name, block in (
            ("9.3", "members viewing what they follow (every view lifts a followed score)",
             i["steady"]),
            ("9.4", "new customers viewing a product twice (every second view enters)",
             i["crossing"])):
        ratio = block["ratio"]
        rows.append(Row(rid, f"Events/s per CPU-second, 0 / 100 audiences, {name}",
                        f"{fmt(median(block['0']))} / {fmt(median(block['100']))}", "", None,
                        ratio, f"ratio 100/0 audiences {fmt(median(ratio), 2)} (runs: the "
                        f"ratios); single-event `tracking.track`, {i['events']:,} per run"))
    ex = r["exits"]
    eps = [x["exits_per_second"] for x in ex]
    fill = [x["fill_per_second"] for x in ex]
    ok = all(x["fired"] == x["due"] for x in ex)
    rows += [
        Row("9.5", f"Exits fired per CPU-second (one worker tick, {ex[0]['kept']:,} members "
            f"kept, {ex[0]['due']:,} due)", fmt(median(eps)), "", None, eps,
            f"round trips per tick {ex[0]['trips']}" + ("" if ok else "; NOT ALL FIRED")),
        Row("9.6", "Customers entered per CPU-second when an audience is created (filling job)",
            fmt(median(fill)), "", None, fill, f"{ex[0]['entered']:,} of {ex[0]['kept']:,} "
            "interested customers qualify; batches of 500"),
    ]
    return rows


def webhook_rows(r: dict[str, Any]) -> list[Row]:
    lat, out = r["latency"], r["throughput"]
    cpu = r.get("server_cpu_ms_per_delivery")
    return [
        Row("14.1", f"Webhook latency p50 / p99, mutation -> webhook received, "
            f"{r['endpoints']} endpoints, {fmt(lat['rate'])} triggers/s",
            f"{fmt(lat['p50'], 1)} / {fmt(lat['p99'], 1)} ms", "", None, [lat["p99"]],
            f"{lat['samples']:,} deliveries ({fmt(lat['rate'] * r['endpoints'])}/s), "
            f"{lat['missing']} missing, max {fmt(lat['max'], 1)} ms"),
        Row("14.2", "Webhook deliveries per second, one server process (a backlog drained)",
            fmt(out["per_second"]), "", None, [out["per_second"]],
            f"{out['deliveries']:,} deliveries in {fmt(out['seconds'], 1)} s, "
            f"{out['missing']} missing; server CPU per delivery (both phases) "
            f"{fmt(cpu or float('nan'), 2)} ms"),
    ]


def fair_webhook_rows(r: dict[str, Any]) -> list[Row]:
    """Fair webhook sending (bench/fair_webhooks.py, issue 22 items 4 and 5)."""
    alone = r["alone_p50_ms"]
    return [
        Row("27.1", "Another shop's webhook p50 beside a shop with 20 never-answering "
            "endpoints, as a ratio of it alone (4 s timeout)", f"{fmt(r['hang_ratio'], 2)}x",
            "", None, [r["hang_ratio"]],
            f"{fmt(r['hang_p50_ms'], 1)} ms beside the noise, {fmt(alone, 1)} ms alone, "
            "measured side by side in one run; mutation -> webhook received"),
        Row("27.2", "Another shop's webhook p50 beside, besides, 10 endpoints streaming "
            "endless `100 Continue` heads, as a ratio of it alone",
            f"{fmt(r['continue_ratio'], 2)}x", "", None, [r["continue_ratio"]],
            f"{fmt(r['continue_p50_ms'], 1)} ms; server CPU share meanwhile "
            f"{fmt(r['continue_cpu_share'], 2)} (beside the hanging ones alone "
            f"{fmt(r['hang_cpu_share'], 2)}); {r['noise_requests']} noisy requests"),
    ]


def catalog_rows(r: dict[str, Any]) -> list[Row]:
    """The catalog (bench/catalog.py)."""
    up, feed, fan = r["upsert"], r["feed"], r["fanout"]
    return [
        Row("15.1", f"upsertProducts of {up['count']:,} products: new / each price lowered",
            f"{fmt(up['created']['ms'])} ms, {up['created']['trips']} round trips / "
            f"{fmt(up['lowered']['ms'])} ms, {up['lowered']['trips']} round trips", "", None,
            [], f"the lowered call records {up['lowered']['changes']:,} drops for the "
            "fan-out in the same writes; embedded store"),
        Row("15.2", f"Feed of {feed['offers']:,} offers ({feed['bytes'] / 1e6:.1f} MB YML): "
            "import time / peak memory of reading it",
            f"{fmt(feed['seconds'], 1)} s / {feed['peak_bytes'] / 1e6:.2f} MB", "", None, [],
            f"fetched over local HTTP, read twice as a stream, applied 1,000 at a time "
            f"({feed['created']:,} created); peak = tracemalloc over a whole parse"),
        Row("15.3", f"Fan-out of one drop to {fan['customers']:,} customers: seconds until "
            "all stored / triggers per second",
            f"{fmt(fan['seconds'], 1)} s / {fmt(fan['per_second'])}",
            "all stored within 60 s", fan["seconds"] <= 60 and fan["stored"] == fan["customers"],
            [], f"{fan['stored']:,} stored; the upsert answered in {fmt(fan['upsert_ms'], 1)} ms; "
            "one process, embedded store"),
    ]


def attribution_rows(r: dict[str, Any]) -> list[Row]:
    """Issue 25: tracking with channels and attribution, over the code before it."""
    rows = []
    for n, batch in (("25.1", 1), ("25.2", 10)):
        b = r[f"batch{batch}"]
        rows.append(Row(
            n, f"Tracking throughput with session channels and attribution, over the code "
            f"before (`track`, {batch} event(s) a request, a new visit every 5th event)",
            f"{fmt(b['ratio'], 2)}x", ">= 0.95x", b["ratio"] >= 0.95, b["ratios"],
            f"{fmt(b['before_eps'])} -> {fmt(b['after_eps'])} events/s (medians of "
            f"{r['runs']} alternating runs, both servers at once); per server CPU-second "
            f"{fmt(b['ratio_per_cpu'], 2)}x; before = {r['base'][:10]}"))
    return rows


def _digits(values: list[float]) -> int:
    if not values or all(float(v).is_integer() for v in values):
        return 0
    top = max(abs(v) for v in values)
    return 2 if top < 10 else 1 if top < 100 else 0


SERVER_METHOD = (
    "Each figure is the median of the runs listed beside it. Ingestion runs one uvicorn "
    "process (embedded store `mongomock://`, `memory://` broker, no access log, rate limits "
    "lifted) and a load generator (a minimal asyncio HTTP/1.1 client, 50 visitors on "
    "keep-alive connections, each sending its own product views) in another process; "
    "GraphQL and bare runs alternate and ratios are taken run by run. \"per server "
    "CPU-second\" divides the events of a run by the CPU time the server process used: "
    "what it does with a core to itself, whatever else the machine is running (this "
    "machine is shared: see the load average).")


def render(rows: list[Row], meta: dict[str, str], smoke: bool, extra: str = "",
           method: str = SERVER_METHOD) -> str:
    """The results page: the machine, how the figures were measured (`method`), the rows."""
    out = ["# Benchmark results", ""]
    if smoke:
        out += ["**Smoke run**: tiny counts, nothing judged. `python -m bench` gives the "
                "real figures.", ""]
    out += [
        "| machine | |", "|---|---|",
        f"| CPU | {meta['cpu']} |", f"| cores | {meta['cores']} |",
        f"| date | {meta['date']} |", f"| Python | {meta['python']} |",
        f"| commit | {meta['commit']} (plus the working tree) |",
        f"| load average (1/5/15 min) at start, at end | {meta['load_start']}; "
        f"{meta['load_end']} |",
        f"| command | `{meta['command']}` ({meta['elapsed']}) |", "", method, "",
        "| # | Benchmark | Result | Target | Verdict | Runs | Notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs = fmt_runs(row.runs, _digits(row.runs))
        out.append(f"| {row.section} | {row.name} | {row.value} | {row.target} | "
                   f"{row.verdict(smoke)} | {runs} | {row.note} |")
    out.append("")
    if extra:
        out += [extra, ""]
    return "\n".join(out)


def tracker_rows(r: dict[str, Any]) -> list[Row]:
    """The tracker's own request through /graphql, against the bare endpoint and the floor."""
    rows = []
    rid = 1
    for batch, label in ((1, "1 item (the tracker's request)"), (100, "100 items")):
        block = r[f"batch{batch}"]
        for kind, what in (("graphql", "/graphql (fast path)"), ("bare", "bare endpoint"),
                           ("floor", "floor: Starlette JSON, no work")):
            rows.append(_eps_row(f"17.{rid}", f"Events/s, `track` with {label}, {what}",
                                 block[f"{kind}_eps"], None))
            rid += 1
        ratio = block["graphql_bare"]
        rows.append(Row(f"17.{rid}", f"Ratio /graphql / bare, `track` with {label}",
                        fmt(ratio["median"], 2), ">= 0.85", ratio["median"] >= 0.85,
                        ratio["runs"],
                        f"/graphql / floor {fmt(block['graphql_floor']['median'], 2)}, "
                        f"bare / floor {fmt(block['bare_floor']['median'], 2)}"))
        rid += 1
    return rows
