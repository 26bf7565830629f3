"""`python -m bench` runs every benchmark and writes bench/RESULTS.md.

    python -m bench              # the real thing, a few minutes
    python -m bench --smoke      # tiny counts, nothing judged (the test suite runs this)
    python -m bench --out FILE   # write the table elsewhere
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    attribution,
    audiences,
    carts,
    catalog,
    dashboard,
    fair_webhooks,
    ingest,
    recommendations_rows,
    report,
    roundtrips,
    sessions,
    size,
    split,
    triggers,
    webhooks,
)
from bench.common import ROOT, Row, load_average, machine


@dataclass
class Plan:
    smoke: bool
    ingest: ingest.Config
    trig_subscribers: int
    trig_rate: float
    trig_count: int
    trig_rounds: int
    carts_kept: int
    carts_due: int
    carts_runs: int
    dash_events: int
    dash_runs: int
    aud_events: int
    aud_runs: int
    aud_kept: int
    aud_due: int
    profile: bool
    webhooks: dict[str, Any]
    attribution: dict[str, Any]
    catalog: tuple[int, int, int] = (1000, 200_000, 100_000)  # products, offers, customers


def plan(smoke: bool, profile: bool) -> Plan:
    if smoke:
        return Plan(smoke=True,
                    ingest=ingest.Config(runs=1, duration=0.5, warmup=0.2, visitors=5, rate=50,
                                         latency_duration=0.5, preloads=(500, 2_000)),
                    trig_subscribers=4, trig_rate=10, trig_count=4, trig_rounds=1,
                    carts_kept=200, carts_due=20, carts_runs=1, dash_events=300, dash_runs=1,
                    aud_events=20, aud_runs=1, aud_kept=200, aud_due=40, profile=False,
                    webhooks={"endpoints": 2, "rate": 20, "count": 10, "backlog": 50},
                    attribution={"runs": 1, "duration": 0.5, "warmup": 0.2, "visitors": 5},
                    catalog=(50, 500, 200))
    return Plan(smoke=False, ingest=ingest.Config(), trig_subscribers=100, trig_rate=5,
                trig_count=40, trig_rounds=3, carts_kept=10_000, carts_due=1_000, carts_runs=3,
                dash_events=10_000, dash_runs=5,
                aud_events=1000, aud_runs=5, aud_kept=10_000, aud_due=2_000, profile=profile,
                webhooks={"endpoints": 10, "rate": 100, "count": 1000, "backlog": 2000},
                attribution={"runs": 5, "duration": 4.0, "warmup": 1.0, "visitors": 50})


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(p: Plan, out: Path, raw_out: Path | None = None) -> list[Row]:
    began = time.monotonic()
    meta = machine()
    meta["load_start"] = load_average()
    meta["command"] = "python -m bench" + (" --smoke" if p.smoke else "")
    results: dict[str, Any] = {}

    log("1. ingestion over HTTP")
    results["ingest"] = ingest.measure(p.ingest)
    log("2. storage round trips")
    rt = asyncio.run(roundtrips.measure())
    log(f"3. trigger latency ({p.trig_subscribers} subscribers, real Redis)")
    results["triggers"] = triggers.measure(p.trig_subscribers, p.trig_rate, p.trig_count,
                                           p.trig_rounds)
    log(f"4. abandoned carts ({p.carts_kept:,} kept, {p.carts_due:,} due)")
    results["carts"] = asyncio.run(carts.measure(p.carts_kept, p.carts_due, p.carts_runs))
    log("5. tracker size")
    results["size"] = size.measure()
    log(f"6. dashboard first render ({p.dash_events:,} events stored)")
    results["dashboard"] = dashboard.measure(p.dash_events, p.dash_runs)
    log(f"7. abandoned sessions ({p.carts_kept:,} open, {p.carts_due:,} due)")
    results["sessions"] = asyncio.run(sessions.measure(p.carts_kept, p.carts_due, p.carts_runs))
    log(f"9. audiences (100 in a shop; {p.aud_kept:,} members kept, {p.aud_due:,} exits due)")
    results["audiences"] = asyncio.run(audiences.measure(p.aud_events, p.aud_runs, p.aud_kept,
                                                         p.aud_due))
    log("14. webhooks ({endpoints} endpoints, {rate} triggers/s)".format(**p.webhooks))
    results["webhooks"] = webhooks.measure(**p.webhooks)
    log("18. where a tracker request's time goes (server CPU, storage, floor)")
    results["split"] = split.measure(p.ingest)
    log("25. tracking with channels and attribution, beside the code before it")
    results["attribution"] = attribution.measure(**p.attribution)
    log("15. catalog ({:,} products, {:,} offers, {:,} customers)".format(*p.catalog))
    results["catalog"] = asyncio.run(catalog.measure(*p.catalog))
    log("26. recommendations")
    results["recommendations"] = recommendations_rows.measure(p.smoke)
    log("27. fair webhook sending (a noisy shop's endpoints beside another shop)")
    results["fair_webhooks"] = fair_webhooks.run(probes=3 if p.smoke else 20,
                                                 noise_events=2 if p.smoke else 5)

    rows = (report.ingestion_rows(results["ingest"]) + report.roundtrip_rows(rt)
            + report.trigger_rows(results["triggers"]) + report.cart_rows(results["carts"])
            + report.size_rows(results["size"])
            + report.tracker_rows(results["ingest"]["tracker"])
            + report.dashboard_rows(results["dashboard"])
            + report.session_rows(results["sessions"])
            + report.audience_rows(results["audiences"])
            + report.webhook_rows(results["webhooks"]) + split.rows(results["split"])
            + report.attribution_rows(results["attribution"])
            + report.catalog_rows(results["catalog"])
            + recommendations_rows.rows(results["recommendations"])
            + report.fair_webhook_rows(results["fair_webhooks"]))
    extra = [roundtrip_matrix(rt), report.session_query(results["sessions"])]
    if p.profile:
        log("18. py-spy of the tracker's request: where its own CPU goes")
        try:
            extra.append(split.where_it_goes())
        except Exception as error:  # a profile is a bonus; the figures stand without it
            extra.append(f"(profile of 18 failed: {error!r})")
    if p.profile:
        log("profiles (py-spy) of what missed")
        try:
            extra.append(profiles(rows))
        except Exception as error:  # a profile is a bonus; the figures stand without it
            extra.append(f"(profiles failed: {error!r})")
    extra.append("Findings, profiles and proposed fixes: bench/FINDINGS.md.")
    meta["load_end"] = load_average()
    meta["elapsed"] = f"{time.monotonic() - began:.0f} s"
    out.write_text(report.render(rows, meta, p.smoke, "\n\n".join(extra)))
    if raw_out is not None:
        results["roundtrips"] = {t: {c: v.trips for c, v in row.items()}
                                 for t, row in rt["table"].items()}
        raw_out.write_text(json.dumps(results, indent=1, default=str))
    log(f"wrote {out} in {meta['elapsed']}")
    return rows


def roundtrip_matrix(rt: dict[str, Any]) -> str:
    cases = report.ROUNDTRIP_CASES
    lines = ["## Storage round trips per event type", "",
             "| event type | " + " | ".join(cases) + " |",
             "|---|" + "---|" * len(cases)]
    for type_, row in rt["table"].items():
        cells = []
        for c in cases:
            counted = row[c]
            detail = ", ".join(f"{k} {v}" for k, v in counted.by_collection.items())
            cells.append(f"{counted.trips} ({detail})")
        lines.append(f"| {type_} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def profiles(rows: list[Row]) -> str:
    from bench import profile

    wanted = []
    missed = {r.section for r in rows if r.met is False}
    if missed & {"1.1", "1.7", "1.11"}:
        wanted += [("graphql", 1), ("bare", 1)]
    if missed & {"1.3", "1.9"}:
        wanted += [("graphql", 100)]
    if not wanted:
        return ""
    parts = ["## Profiles (py-spy, server process under the closed-loop load)", ""]
    for kind, batch in wanted:
        parts += ["```", profile.profile(kind, batch, seconds=5).rstrip(), "```", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, nothing judged")
    parser.add_argument("--out", type=Path, help="where to write the table "
                        "(default bench/RESULTS.md; with --smoke a temporary file)")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the py-spy profiles of what missed")
    args = parser.parse_args(argv)
    out = args.out
    if out is None:
        out = (Path(tempfile.gettempdir()) / "bench-smoke-RESULTS.md" if args.smoke
               else ROOT / "bench" / "RESULTS.md")
    run(plan(args.smoke, not args.no_profile), out, args.json)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
