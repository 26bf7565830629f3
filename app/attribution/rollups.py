"""Performance rollups: hourly counters per rule and per channel, folded from facts.

Facts are documents the product writes anyway, each born with `rolled: false`:
triggers (app/triggers/model.py make), sessions (touches.py) and orders (orders.py).
Nothing is counted on the hot path: `fold` (run by a worker, and by a report
before it reads) counts a page of pending facts into `performance` documents,
`_id` = "<shop>:<r|c>:<rule or channel>:<hour ms>", and the reports sum those:
their cost grows with rules, channels and hours, not with traffic.

Counting exactly once, without transactions (DESIGN-NOTES "Counters that survive
a retry"):
1. claim: the page's facts get `foldBatch: <batch id>` (only facts without one), so
   each fact belongs to one batch, whoever else folds at the same time; the id is
   a hash of what the batch holds (`batch_id`);
2. snapshot: the batch's facts are read back by `foldBatch`, and their counts
   computed (contributions.py); an order's counts are first frozen on it
   (`folding`), so a change of status while folding waits for the next batch;
3. apply: one guarded update per bucket, `{_id, "applied.b": {$ne: batch}}` with
   `$inc` and `$push: {applied: {b: batch, at}}`: a second apply is a no-op;
4. finish: facts get `rolled: true` (orders: `counted`, the counts now in the
   buckets), `foldBatch` removed;
5. tidy: `applied` entries older than KEEP_APPLIED are pulled.
A crash anywhere leaves the facts claimed: the next fold resumes their batch by
its id, with the same facts and counts, and step 3 skips buckets already done.
HyperLogLog registers (channel visitors) are `$max`: repeating them is harmless.
The steps are the project's one fold engine (app/backends/folds.py); this module says
what the facts are and what each counts (contributions.py).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from app.attribution.contributions import Counts, finish, freeze_orders
from app.attribution.contributions import of as counts_of
from app.backends import folds

FACTS = ("triggers", "sessions", "orders")


async def fold(storage: Any, now: datetime, shop_id: int | None = None) -> int:
    """Count pending facts into the rollups (triggers first: orders convert their
    exposures); returns how many facts were counted. Folding every shop (the worker), a
    shop whose batch fails is left alone for the rest of the run (its later facts too),
    the others are counted, and the failure is raised at the end (folds.in_turn)."""

    def stream(name: str) -> Callable[[folds.Skip], Awaitable[int]]:
        async def run(left_out: folds.Skip) -> int:
            return await folds.pages(getattr(storage, name), folds.Stream(name), name,
                                     functools.partial(_run, storage, name, now=now),
                                     shop_id, left_out)
        return run

    return await folds.in_turn([stream(name) for name in FACTS], shop_id)


async def _run(storage: Any, name: str, batch: str, taken: list[dict[str, Any]] | None, *,
               now: datetime) -> None:
    """A batch's facts are read back whole (`taken` is None: their streams name no fields)."""
    facts = getattr(storage, name)
    docs = await folds.claimed(facts, folds.Stream(name), batch)
    if not docs:
        return
    if name == "orders":
        docs = await freeze_orders(storage, batch, docs)
        if not docs:
            return  # another folder finished this batch meanwhile
    buckets = _buckets(await counts_of(storage, name, batch, docs))
    await folds.apply(storage.performance, batch, buckets, now)
    await finish(storage, name, batch, docs)
    await folds.tidy(storage.performance, buckets, now)


def _buckets(counts: Counts) -> dict[str, folds.Bucket]:
    """A batch's counts as the fold engine's buckets: `n.<figure>`, `v.<register>`."""
    out: dict[str, folds.Bucket] = {}
    for bucket_id, (meta, inc) in counts.incs.items():
        out[bucket_id] = folds.Bucket(meta, inc={f"n.{k}": v for k, v in inc.items()})
    for bucket_id, (meta, regs) in counts.maxes.items():
        bucket = out.setdefault(bucket_id, folds.Bucket(meta))
        bucket.max.update({f"v.{k}": r for k, r in regs.items()})
    return out
