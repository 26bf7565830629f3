"""Rows 26.x of bench/RESULTS.md (recommendations, bench/recommendations.py).

    python -m bench.recommendations_rows [--smoke] [--out FILE]

runs the recommendations benchmark alone, in one run, and writes its rows (default
bench/RESULTS-recommendations.md); `python -m bench` runs it with everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench import recommendations
from bench.common import ROOT, Row, fmt, load_average, machine, median

IDS = ("26.1", "26.2", "26.3", "26.4", "26.5", "26.6", "26.7", "26.8")


def sizes(smoke: bool) -> dict[str, int]:
    if smoke:
        return {"products": 2_000, "pairs": 10, "calls": 20, "events": 40, "runs": 1,
                "sessions": 60}
    return {"products": 100_000, "pairs": 10, "calls": 400, "events": 400, "runs": 3,
            "sessions": 500}


def measure(smoke: bool) -> dict[str, Any]:
    return asyncio.run(recommendations.measure(**sizes(smoke)))


def rows(r: dict[str, Any]) -> list[Row]:
    a, v, q = r["answers"], r["views"], r["quality"]
    scale = f"{a['products']:,} products, {a['pairs']:,} pairs stored"
    out = []
    for rid, name, note in (
            ("26.1", "ALSO_VIEWED", "one read by `_id` + one catalog read"),
            ("26.2", "FOR_YOU", "customer's interests (3 reads), pairs of its top products, "
             "popular per category (kept 60 s per process), catalog"),
            ("26.3", "POPULAR", "a list is read once a minute per process; that read scans on "
             "the embedded store (no secondary indexes: the p99), uses "
             "`shopId_1_kind_1_categoryId_1_views_-1__id_1` on MongoDB")):
        t = a[name]
        out.append(Row(rid, f"`recommendations` {name} p50 / p99 ms, {scale}",
                       f"{t['p50']:.2f} / {t['p99']:.2f}", "", None, [],
                       f"{t['calls']} calls, embedded store, in-process; {note}"))
    trips = v["trips"]
    extra = max(t["after"] - t["before"] for t in trips.values())
    out.append(Row("26.4", "Extra storage round trips per product view: one view / a batch "
                   "of 20 views", " / ".join(str(t["after"] - t["before"])
                                             for t in trips.values()),
                   "<= 1", extra <= 1, [],
                   "; ".join(f"{k}: {t['before']} -> {t['after']} (cooccurrence "
                             f"{t['cooccurrence']})" for k, t in trips.items())
                   + "; the pairs travel in the event's insert, a worker folds them: "
                   f"{fmt(v['fold']['per_cpu_second'])} views per CPU-second, "
                   f"{v['fold']['trips']} round trips for {v['fold']['events']:,} views"))
    ratio = v["ratio"]
    out.append(Row("26.5", "Tracking throughput of product views with co-occurrence / "
                   "without (ratio, one run, side by side)", fmt(median(ratio), 2), ">= 0.9",
                   median(ratio) >= 0.9, ratio,
                   f"events per CPU-second {fmt(median(v['rates']['after']))} / "
                   f"{fmt(median(v['rates']['before']))}; single-event `tracking.track`, "
                   f"sessions of 10 views, {v['events']:,} per run"))
    rank = q["b_rank"]
    out.append(Row("26.6", "Quality: B's rank in A's ALSO_VIEWED when 60% of the sessions "
                   "viewing A view B", str(rank), "<= 3", rank is not None and rank <= 3, [],
                   "generated sessions: A + 4 of 200 other products, B in 60%"))
    share = q["shoes_share"]
    out.append(Row("26.7", "Quality: share of shoes in FOR_YOU (limit 10) for a customer whose "
                   "interest is 90% shoes", f"{share:.0%}", ">= 80%", share >= 0.8, []))
    hv, hp = q["hit_also_viewed"], q["hit_popular"]
    out.append(Row("26.8", "Quality: hit rate at 10, ALSO_VIEWED / POPULAR, held-out split",
                   f"{hv:.1%} / {hp:.1%}", "ALSO_VIEWED > POPULAR", hv > hp, [],
                   f"{q['trained']:,} sessions tracked, {q['held_out']:,} held out: given a "
                   "session's first product, is its second in the 10 answered"))
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.report import render

    parser = argparse.ArgumentParser(prog="python -m bench.recommendations_rows")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-recommendations.md")
    args = parser.parse_args(argv)
    began = time.monotonic()
    meta = machine()
    meta["load_start"] = load_average()
    meta["command"] = "python -m bench.recommendations_rows" + (" --smoke" if args.smoke else "")
    found = rows(measure(args.smoke))
    meta["load_end"] = load_average()
    meta["elapsed"] = f"{time.monotonic() - began:.0f} s"
    args.out.write_text(render(found, meta, args.smoke))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
