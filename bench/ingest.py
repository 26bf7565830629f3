"""Ingestion over real HTTP: one uvicorn process, a load generator in another.

GraphQL (the real server) and the bare endpoint (bench/bare.py) run side by
side and their runs alternate, so that both see the same machine; the ratio is
taken run by run. Besides requests and events per second, each run records the
CPU seconds the server process used, which gives events per CPU-second of the
server: what one process could do with a core of its own, whatever else the
machine is doing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.common import ServerProcess, median, percentile, run_loadgen


@dataclass
class Config:
    runs: int = 3
    duration: float = 4.0
    warmup: float = 1.0
    visitors: int = 50
    rate: float = 500.0
    latency_duration: float = 6.0
    preloads: tuple[int, ...] = (10_000, 200_000)


@contextlib.contextmanager
def servers(*specs: tuple[str, int]) -> Iterator[list[ServerProcess]]:
    """Start several bench servers at once; stop them all on exit."""
    started = [ServerProcess(kind, preload=preload) for kind, preload in specs]
    try:
        for s in started:
            s.launch()
        for s in started:
            s.wait_ready()
        yield started
    finally:
        for s in started:
            s.stop()


def closed_run(server: ServerProcess, cfg: Config, batch: int, tag: str,
               single: str = "viewProduct") -> dict[str, Any]:
    cpu = server.cpu_seconds()
    result = run_loadgen({"mode": "closed", "target": server.target, "base": server.base,
                          "batch": batch, "single": single, "visitors": cfg.visitors,
                          "duration": cfg.duration, "warmup": cfg.warmup, "runs": 1,
                          "tag": tag})["runs"][0]
    # The CPU of the whole run (warm-up included) over the events of the whole run.
    cpu = server.cpu_seconds() - cpu
    whole = result["eps"] * (cfg.duration + cfg.warmup)
    result["eps_per_cpu"] = whole / cpu if cpu > 0 else float("nan")
    if result["errors"]:
        raise RuntimeError(f"{server.kind} batch {batch}: {result['errors']} errors, "
                           f"first: {result['first_error']}")
    return result


def open_run(server: ServerProcess, cfg: Config, tag: str) -> dict[str, Any]:
    result = run_loadgen({"mode": "open", "target": server.target, "base": server.base,
                          "batch": 1, "visitors": cfg.visitors, "rate": cfg.rate,
                          "duration": cfg.latency_duration, "warmup": cfg.warmup, "runs": 1,
                          "tag": tag})["runs"][0]
    lat = result.pop("latencies_ms")
    result.update({"p50": percentile(lat, 50), "p99": percentile(lat, 99),
                   "max": max(lat) if lat else float("nan"), "samples": len(lat)})
    if result["errors"]:
        raise RuntimeError(f"{server.kind} at {cfg.rate}/s: {result['errors']} errors, "
                           f"first: {result['first_error']}")
    return result


def summary(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    values = [r[key] for r in runs]
    return {"median": median(values), "runs": values}


def measure(cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"config": cfg.__dict__}
    with servers(("graphql", 0), ("bare", 0)) as (gql, bare):
        for batch in (1, 10, 100):
            g_runs, b_runs = [], []
            for r in range(cfg.runs):
                g_runs.append(closed_run(gql, cfg, batch, f"g{batch}r{r}"))
                b_runs.append(closed_run(bare, cfg, batch, f"b{batch}r{r}"))
            ratios = [g["eps"] / b["eps"] for g, b in zip(g_runs, b_runs, strict=True)
                      if b["eps"]]
            out[f"batch{batch}"] = {
                "graphql_eps": summary(g_runs, "eps"), "bare_eps": summary(b_runs, "eps"),
                "graphql_eps_per_cpu": summary(g_runs, "eps_per_cpu"),
                "bare_eps_per_cpu": summary(b_runs, "eps_per_cpu"),
                "ratio": {"median": median(ratios), "runs": ratios},
            }
        # A single event the way the tracker sends it: the batch mutation with one item.
        t_runs = [closed_run(gql, cfg, 1, f"t1r{r}", single="track") for r in range(cfg.runs)]
        out["track1"] = {"graphql_eps": summary(t_runs, "eps"),
                         "graphql_eps_per_cpu": summary(t_runs, "eps_per_cpu")}
        lat_g, lat_b = [], []
        for r in range(cfg.runs):
            lat_g.append(open_run(gql, cfg, f"lg{r}"))
            lat_b.append(open_run(bare, cfg, f"lb{r}"))
        out["latency"] = {
            "graphql": {k: summary(lat_g, k) for k in ("p50", "p99", "max", "achieved_rps")},
            "bare": {k: summary(lat_b, k) for k in ("p50", "p99", "max", "achieved_rps")},
            "late_sends": sum(r["late_sends"] for r in lat_g + lat_b),
        }
    out["tracker"] = tracker_path(cfg)
    specs = [("graphql", 0)] + [("graphql", n) for n in cfg.preloads]
    with servers(*specs) as started:
        out["preload_startup_seconds"] = [s.startup_seconds for s in started]
        for batch in (1, 100):
            runs: dict[int, list[dict[str, Any]]] = {s.preload: [] for s in started}
            for r in range(cfg.runs):
                for s in started:
                    runs[s.preload].append(closed_run(s, cfg, batch, f"p{s.preload}b{batch}r{r}"))
            out[f"preload_batch{batch}"] = {
                str(n): {"eps": summary(v, "eps"), "eps_per_cpu": summary(v, "eps_per_cpu")}
                for n, v in runs.items()}
    return out


def tracker_path(cfg: Config) -> dict[str, Any]:
    """The tracker's own request (`track`, 1 and 100 items) through /graphql, the bare
    endpoint and the floor (a Starlette endpoint that does no work), runs alternating."""
    out: dict[str, Any] = {}
    with servers(("graphql", 0), ("bare", 0), ("floor", 0)) as (gql, bare, floor):
        for batch in (1, 100):
            runs: dict[str, list[dict[str, Any]]] = {"graphql": [], "bare": [], "floor": []}
            for r in range(cfg.runs):
                for server in (gql, bare, floor):
                    runs[server.kind].append(closed_run(server, cfg, batch,
                                                        f"f{server.kind}{batch}r{r}",
                                                        single="track"))
            ratio = {name: [a["eps"] / b["eps"] for a, b in zip(runs[x], runs[y], strict=True)
                            if b["eps"]]
                     for name, x, y in (("graphql_bare", "graphql", "bare"),
                                        ("graphql_floor", "graphql", "floor"),
                                        ("bare_floor", "bare", "floor"))}
            out[f"batch{batch}"] = {
                **{f"{k}_eps": summary(v, "eps") for k, v in runs.items()},
                **{k: {"median": median(v), "runs": v} for k, v in ratio.items()},
            }
    return out
