"""Where a tracker request's time goes: the server's own CPU beside its time in storage.

One run, two server processes side by side: the real server (`/graphql`, the
tracker's `track` document through the fast path, on the embedded store) and
the floor (bench/bare.py: Starlette parsing the same JSON and answering like
JSON, no work). For each batch size (1 item, the tracker's request; 100 items)
the same closed-loop load is put on each, runs alternating, and per request:

- total CPU: the server process's user + system CPU (/proc) over the run,
  divided by the requests the server counted (`tracker_request_duration_seconds`
  for kind `track`, read from its own `/metrics` before and after);
- storage: the time inside storage calls over the run, from the server's own
  `tracker_storage_duration_seconds_sum` (every collection, every operation,
  background workers included), and the CPU inside them,
  `tracker_embedded_storage_cpu_seconds_total`. The embedded store runs in the
  server's thread, so on an idle machine the two agree; on a shared one the
  wall time also holds the moments the OS ran other processes, so the split
  uses the CPU series;
- own CPU = total CPU - storage CPU: HTTP, GraphQL, the pipeline, the workers;
- the floor's CPU per request (its requests estimated from the load
  generator's rate over warm-up + measured seconds, as bench/ingest.py does).

The CPU window holds the two scrapes and SETTLE seconds after the load, so that
what the requests set off (those still under way, the workers' folds of their
events) is in the CPU and in the storage series alike; the scrapes' own cost is
a few ms a run, well under 1% of either.
The goal: own CPU per request at or under 3x the floor's.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from bench.common import ADMIN_KEY, Row, ServerProcess, fmt, median
from bench.ingest import Config, closed_run, servers

GOAL = 3.0
SETTLE = 1.5  # seconds after the load: the workers (every second or so) fold what it left


def _metrics(server: ServerProcess) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    request = urllib.request.Request(server.base + "/metrics",
                                     headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    out = {"storage": 0.0, "storage_cpu": 0.0, "storage_calls": 0.0, "requests": 0.0}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "tracker_embedded_storage_cpu_seconds_total":
                out["storage_cpu"] += s.value
            elif s.name == "tracker_storage_duration_seconds_sum":
                out["storage"] += s.value
            elif s.name == "tracker_storage_duration_seconds_count":
                out["storage_calls"] += s.value
            elif s.name == "tracker_request_duration_seconds_count" \
                    and s.labels.get("kind") == "track":
                out["requests"] += s.value
    return out


def _server_run(server: ServerProcess, cfg: Config, batch: int, tag: str) -> dict[str, Any]:
    # One window for the CPU and the series: the requests still under way when the load
    # stops, and the workers' folds of what it tracked, land in both or in neither (with
    # the CPU read inside the scrapes, a fold run after it counted as storage only, and
    # the own CPU came out below zero).
    cpu = server.cpu_seconds()
    before = _metrics(server)
    result = closed_run(server, cfg, batch, tag, single="track")
    time.sleep(SETTLE)
    after = _metrics(server)
    cpu = server.cpu_seconds() - cpu
    requests = max(after["requests"] - before["requests"], 1.0)  # a smoke run may see few
    storage = after["storage"] - before["storage"]
    storage_cpu = after["storage_cpu"] - before["storage_cpu"]
    return {"eps": result["eps"], "requests": requests,
            "cpu_ms": 1000 * cpu / requests, "storage_ms": 1000 * storage / requests,
            "storage_cpu_ms": 1000 * storage_cpu / requests,
            "own_ms": 1000 * (cpu - storage_cpu) / requests,
            "calls": (after["storage_calls"] - before["storage_calls"]) / requests}


def _floor_run(server: ServerProcess, cfg: Config, batch: int, tag: str) -> dict[str, Any]:
    cpu = server.cpu_seconds()
    result = closed_run(server, cfg, batch, tag, single="track")
    cpu = server.cpu_seconds() - cpu
    requests = max(result["rps"] * (cfg.duration + cfg.warmup), 1.0)
    return {"eps": result["eps"], "cpu_ms": 1000 * cpu / requests}


def measure(cfg: Config) -> dict[str, Any]:
    """Per batch size: the server as deployed, the same without its background workers
    (BENCH_WORKERS=0: the request path alone), and the floor, runs alternating."""
    out: dict[str, Any] = {}
    alone = ServerProcess("graphql", env={"BENCH_WORKERS": "0"})
    with servers(("graphql", 0), ("floor", 0)) as (gql, floor), alone:
        for batch in (1, 100):
            runs: dict[str, list[dict[str, Any]]] = {"server": [], "alone": [], "floor": []}
            for r in range(cfg.runs):
                runs["server"].append(_server_run(gql, cfg, batch, f"sp{batch}r{r}"))
                runs["alone"].append(_server_run(alone, cfg, batch, f"sa{batch}r{r}"))
                runs["floor"].append(_floor_run(floor, cfg, batch, f"sf{batch}r{r}"))
            out[f"batch{batch}"] = _summary(runs["server"], runs["floor"])
            out[f"batch{batch}"]["alone"] = _summary(runs["alone"], runs["floor"])
    return out


def _summary(server: list[dict[str, Any]], floor_runs: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [s["own_ms"] / f["cpu_ms"] for s, f in zip(server, floor_runs, strict=True)
              if f["cpu_ms"] > 0]
    return {
        **{k: median([s[k] for s in server]) for k in
           ("cpu_ms", "storage_ms", "storage_cpu_ms", "own_ms", "calls", "eps")},
        "floor_ms": median([f["cpu_ms"] for f in floor_runs]),
        "ratio": median(ratios), "ratios": ratios,
    }


def main() -> None:
    """`python -m bench.split`: row 18 alone, in one run, with the profile, as Markdown."""
    import time

    from bench.common import load_average, machine
    from bench.report import render

    began = time.monotonic()
    meta = {**machine(), "load_start": load_average(), "command": "python -m bench.split"}
    result = measure(Config())
    extra = where_it_goes()
    meta["load_end"], meta["elapsed"] = load_average(), f"{time.monotonic() - began:.0f} s"
    print(render(rows(result), meta, False, extra))
    print("<!-- raw: " + json.dumps(result) + " -->")


def rows(r: dict[str, Any]) -> list[Row]:
    """Rows 18.1-18.8: per batch size, server CPU (split), floor CPU, their ratio; and the
    ratio of the request path alone (no background workers)."""
    out = []
    for n, (batch, label) in enumerate(((1, "1 item (the tracker's request)"),
                                        (100, "100 items"))):
        b = r[f"batch{batch}"]
        rid = 3 * n
        out.append(Row(f"18.{rid + 1}", f"Server CPU per `track` request, {label}",
                       f"{fmt(b['cpu_ms'], 3)} ms", "", None, [],
                       f"inside storage {fmt(b['storage_cpu_ms'], 3)} ms CPU "
                       f"({fmt(b['storage_ms'], 3)} ms wall, {fmt(b['calls'], 1)} calls); "
                       f"own {fmt(b['own_ms'], 3)} ms"))
        out.append(Row(f"18.{rid + 2}", f"Floor CPU per request, {label}",
                       f"{fmt(b['floor_ms'], 3)} ms", "", None, [],
                       "Starlette parsing the same JSON, answering like JSON"))
        out.append(Row(f"18.{rid + 3}", f"Server's own CPU / floor's, `track` with {label}",
                       fmt(b["ratio"], 2), f"<= {GOAL:g}", b["ratio"] <= GOAL, b["ratios"],
                       "own = server CPU - CPU inside storage calls"))
        a = b.get("alone")
        if a is not None:
            out.append(Row(f"18.{7 + n}", f"The same without background workers, {label}",
                           fmt(a["ratio"], 2), f"<= {GOAL:g}", a["ratio"] <= GOAL, a["ratios"],
                           f"the request path alone: own {fmt(a['own_ms'], 3)} ms, "
                           f"inside storage {fmt(a['storage_cpu_ms'], 3)} ms CPU"))
    return out


STORAGE_FRAMES = ("counted (app/backends/storage.py", "_CountedCursor.to_list (")


def own_layers(raw: str, top: int = 12) -> str:
    """A py-spy raw profile with the samples inside storage calls set apart: the layers
    (innermost frame's package) and the frames of the server's own time."""
    from collections import Counter

    from bench.profile import _split, layer_of

    layers: Counter[str] = Counter()
    frames: Counter[str] = Counter()
    storage = own = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if any(marker in stack for marker in STORAGE_FRAMES):
            storage += int(count)
            continue
        func, file = _split(stack.split(";")[-1])
        own += int(count)
        layers[layer_of(file)] += int(count)
        frames[f"{func} ({file})"] += int(count)
    if not own:
        return "no samples\n"
    out = [f"{storage + own} samples: {100 * storage / (storage + own):.0f}% inside storage "
           f"calls, {100 * own / (storage + own):.0f}% the server's own; of its own:"]
    out += [f"  {100 * n / own:5.1f}%  {name}" for name, n in layers.most_common()]
    out += ["top frames of its own time (self):"]
    out += [f"  {100 * n / own:5.1f}%  {name}" for name, n in frames.most_common(top)]
    return "\n".join(out) + "\n"


def where_it_goes(seconds: float = 5.0) -> str:
    """py-spy of the server under `track` (1 and 100 items): where its own CPU goes."""
    import tempfile
    from pathlib import Path

    from bench import profile

    parts = ["## Where a tracker request's own time goes (py-spy, `track`)", ""]
    for batch in (1, 100):
        with tempfile.TemporaryDirectory() as tmp:
            keep = Path(tmp) / "raw.txt"
            head = profile.profile("graphql", batch, seconds=seconds, single="track",
                                   keep=keep).splitlines()[0]
            body = own_layers(keep.read_text()) if keep.exists() else "no profile\n"
        parts += ["```", head, body.rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    main()
