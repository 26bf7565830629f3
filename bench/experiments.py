"""Proposed fixes, tried without touching app/: `python -m bench.experiments`.

Each experiment is a bench server variant that applies one proposed change at
start-up (a runtime patch, bench-only), measured against the unpatched server
with alternating runs, as in bench/ingest.py. What the numbers say goes into
bench/FINDINGS.md; the change itself is for the owners of app/ and schema/.

- `fast-input`: `from_input` hooks for the GraphQL input types TrackInput and
  TrackContext (schema/inputs.py), so that Strawberry builds them from the
  values graphql-core has already coerced, instead of resolving every field's
  type per item (`strawberry.types.arguments.convert_argument`).
- `gc-freeze`: `gc.collect(); gc.freeze()` once the app has started (app/asgi.py
  lifespan, after the platform and the schema exist), so that the collector's
  full (generation 2) passes no longer walk the schema, the libraries and
  whatever the process holds from start-up: they are what makes the rare long
  pauses behind the latency tail.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import median
from bench.ingest import Config, closed_run, open_run, servers

VARIANTS = ("fast-input", "gc-freeze")

_INPUT_NAMES = (
    ("category_id", "categoryId"), ("product_id", "productId"), ("page_name", "pageName"),
    ("user_id", "userId"), ("user_hash", "userHash"), ("quantity", "quantity"),
    ("price", "price"), ("order_id", "orderId"), ("event_name", "eventName"),
    ("properties", "properties"),
)


def apply(variant: str) -> None:
    """Apply a variant (or several, joined by '+') in this (server) process."""
    if "+" in variant:
        for part in variant.split("+"):
            apply(part)
        return
    if variant == "fast-input":
        from schema.inputs import TrackContext, TrackInput

        def context_from_input(cls: type, v: Any, _ctx: Any) -> Any:
            return cls(shop_id=v["shopId"], visitor_id=v["visitorId"],
                       source_id=v.get("sourceId"), event_id=v.get("eventId"),
                       occurred_at=v.get("occurredAt"), sent_at=v.get("sentAt"),
                       url=v.get("url"), referrer=v.get("referrer"),
                       identity_token=v.get("identityToken"))

        def input_from_input(cls: type, v: Any, ctx: Any) -> Any:
            fields = {py: v.get(gql) for py, gql in _INPUT_NAMES}
            return cls(type=v["type"], context=context_from_input(TrackContext, v["context"], ctx),
                       **fields)

        TrackContext.__strawberry_definition__.from_input = context_from_input
        TrackInput.__strawberry_definition__.from_input = input_from_input
    elif variant == "gc-freeze":
        import gc

        from bench.common import AFTER_STARTUP

        def freeze() -> None:
            gc.collect()
            gc.freeze()

        AFTER_STARTUP.append(freeze)
    elif variant:
        raise ValueError(f"unknown variant {variant!r}")


def compare(variant: str, cfg: Config) -> str:
    lines = [f"== {variant} vs unpatched GraphQL (events/s, median of {cfg.runs} alternating "
             "runs; per server CPU-second in brackets) =="]
    with servers(("graphql", 0), (f"graphql:{variant}", 0)) as (before, after):
        for batch in (1, 10, 100):
            b_runs, a_runs = [], []
            for r in range(cfg.runs):
                b_runs.append(closed_run(before, cfg, batch, f"xb{batch}r{r}"))
                a_runs.append(closed_run(after, cfg, batch, f"xa{batch}r{r}"))
            b, a = median([x["eps"] for x in b_runs]), median([x["eps"] for x in a_runs])
            bc = median([x["eps_per_cpu"] for x in b_runs])
            ac = median([x["eps_per_cpu"] for x in a_runs])
            lines.append(f"  {batch:>3} per request: {b:8,.0f} [{bc:8,.0f}] -> {a:8,.0f} "
                         f"[{ac:8,.0f}]  x{a / b:.2f} [x{ac / bc:.2f}]")
        lat: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for r in range(cfg.runs):
            lat["before"].append(open_run(before, cfg, f"lb{r}"))
            lat["after"].append(open_run(after, cfg, f"la{r}"))
        for key in ("p50", "p99", "max"):
            b, a = (median([x[key] for x in lat[k]]) for k in ("before", "after"))
            lines.append(f"  latency {key} at {cfg.rate:,.0f} req/s: {b:7.1f} ms -> {a:7.1f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments")
    parser.add_argument("variants", nargs="*", default=list(VARIANTS),
                        help=f"any of {', '.join(VARIANTS)}, or several joined by '+'")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    for variant in args.variants:
        print(compare(variant, Config(runs=args.runs)), flush=True)


if __name__ == "__main__":
    main()
