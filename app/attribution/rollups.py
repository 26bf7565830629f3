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
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from app.attribution.contributions import Counts, finish, freeze_orders
from app.attribution.contributions import of as counts_of

PAGE = 500
KEEP_APPLIED = timedelta(minutes=30)  # a folder stalled longer than this could count twice
FACTS = ("triggers", "sessions", "orders")


async def fold(storage: Any, now: datetime, shop_id: int | None = None) -> int:
    """Count pending facts into the rollups (triggers first: orders convert their
    exposures); returns how many facts were counted."""
    total = 0
    for name in FACTS:
        while True:
            done = await _fold_page(storage, name, now, shop_id)
            total += done
            if done < PAGE:
                break
    return total


async def _fold_page(storage: Any, name: str, now: datetime, shop_id: int | None) -> int:
    facts = getattr(storage, name)
    query: dict[str, Any] = {"rolled": False}
    if shop_id is not None:
        query["shopId"] = shop_id
    pending = await facts.find(query, {"foldBatch": 1, "shopId": 1, "version": 1}
                               ).limit(PAGE).to_list(PAGE)
    if not pending:
        return 0
    batches = {d["foldBatch"] for d in pending if d.get("foldBatch")}
    free: dict[int, list[dict[str, Any]]] = {}
    for doc in pending:
        if not doc.get("foldBatch"):
            free.setdefault(doc["shopId"], []).append(doc)
    for shop, docs in free.items():  # a batch per shop: every write below names it
        batch = batch_id(name, shop, docs)
        await facts.update_many({"shopId": shop, "_id": {"$in": [d["_id"] for d in docs]},
                                 "rolled": False, "foldBatch": {"$exists": False}},
                                {"$set": {"foldBatch": batch}})
        batches.add(batch)
    for batch in sorted(batches):
        await _run(storage, name, batch, now)
    return len(pending)


def batch_id(name: str, shop_id: int, docs: list[dict[str, Any]]) -> str:
    """Named by what it holds (ids, and an order's version): two folders that claim the
    same page make one batch, and an order changed since is in a batch of another name."""
    digest = hashlib.sha256()
    for doc in sorted(docs, key=lambda d: str(d["_id"])):
        digest.update(f"{doc['_id']}\0{doc.get('version', 0)}\0".encode())
    return f"{name}:{shop_id}:{digest.hexdigest()[:24]}"


def shop_of(batch: str) -> int:
    return int(batch.split(":")[1])


async def _run(storage: Any, name: str, batch: str, now: datetime) -> None:
    facts = getattr(storage, name)
    docs = await facts.find({"shopId": shop_of(batch), "foldBatch": batch}).to_list(None)
    if not docs:
        return
    if name == "orders":
        docs = await freeze_orders(storage, batch, docs)
        if not docs:
            return  # another folder finished this batch meanwhile
    counts = await counts_of(storage, name, batch, docs)
    await apply(storage, batch, counts, now)
    await finish(storage, name, batch, docs)
    await _tidy(storage, counts.buckets(), now)


async def apply(storage: Any, batch: str, counts: Counts, now: datetime) -> None:
    """Step 3: each bucket's counts once, whatever repeats this."""
    ops = []
    for bucket_id, (meta, inc) in counts.incs.items():
        inc = {f"n.{k}": v for k, v in inc.items() if v}
        if not inc:
            continue
        ops.append(UpdateOne({"_id": bucket_id, "shopId": meta["shopId"],
                              "applied.b": {"$ne": batch}},
                             {"$inc": inc, "$push": {"applied": {"b": batch, "at": now}},
                              "$setOnInsert": meta}, upsert=True))
    for bucket_id, (meta, regs) in counts.maxes.items():
        ops.append(UpdateOne({"_id": bucket_id, "shopId": meta["shopId"]},
                             {"$max": {f"v.{k}": r for k, r in regs.items()},
                              "$setOnInsert": meta}, upsert=True))
    for _ in range(3):  # a duplicate key: applied already, or two first inserts racing
        if not ops:
            return
        try:
            await storage.performance.bulk_write(ops, ordered=False)
            return
        except BulkWriteError as error:
            errors = error.details["writeErrors"]
            if any(e["code"] != 11000 for e in errors):
                raise
            ops = [ops[e["index"]] for e in errors]  # now the document exists: once more


async def _tidy(storage: Any, buckets: list[tuple[str, int]], now: datetime) -> None:
    if not buckets:
        return
    ops = [UpdateOne({"_id": b, "shopId": shop}, {"$pull": {"applied": {
        "at": {"$lt": now - KEEP_APPLIED}}}}) for b, shop in buckets]
    await storage.performance.bulk_write(ops, ordered=False)
