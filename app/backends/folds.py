"""Counting facts into counter documents exactly once, without transactions.

A fact (an event, a trigger, a session, an order) is born pending (`<pending>:
false`); a fold counts a page of pending facts into buckets (documents of
counters) and marks them counted. It is run by a worker, and by a report before it
reads, by any number of processes at once (DESIGN-NOTES "Counters that survive a
retry"):
1. claim: the page's free facts get `<claim>: <batch id>` (only facts without one),
   so each fact belongs to one batch whoever else folds; the id names what the
   batch holds (`batch_id`), so two folders that claim the same page make one batch;
2. snapshot: the batch's facts are read back by their claim and counted (the
   caller's `count`), the same facts giving the same counts however often; a batch
   whose claim took every fact of its page (`modified_count`: no other folder holds one)
   is counted from the page's own read, which named the stream's fields, without
   reading it back (a resumed batch is read back: step 1's read is of its claim only);
3. apply: one guarded update per bucket, `{_id, "applied.b": {$ne: batch}}` with
   `$inc` (and `$push`) and `$push: {applied: {b: batch, at}}`: a second apply of
   a batch is a no-op; `$max` (HyperLogLog registers) is harmless to repeat;
4. finish: the facts leave the pending state (the caller's `finish`);
5. tidy: `applied` entries older than KEEP_APPLIED are pulled (at most every TIDY_EVERY,
   and every TIDY_AFTER applies of this process).
A crash anywhere leaves the facts claimed: the next fold resumes their batch by its
id, with the same facts and counts, and step 3 skips buckets already done.

`owned` is the same idea for "once per visitor and hour": a presence document per
(thing, bucket) is inserted with the batch that first saw it (a plain insert: a
second one is a duplicate key), and a batch counts the presences that carry its id,
again and again the same ones.
"""

from __future__ import annotations

import hashlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, ConnectionFailure

log = logging.getLogger(__name__)
PAGE = 500
KEEP_APPLIED = timedelta(minutes=30)  # a folder stalled longer than this could count twice
PUSH_LIMIT = 1000  # a pushed list (an exact set of visitors) keeps this many
TIDY_EVERY = timedelta(minutes=10)  # a bucket's marks pulled at most this often per process
TIDY_AFTER = 16  # and after at least this many applies of the process to it
TIDIED_KEPT = 100_000  # buckets whose last tidy a process remembers
# Per target: bucket -> [when this process last tidied it (or first saw it), applies since].
_tidied: weakref.WeakKeyDictionary[Any, dict[str, list[Any]]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Stream:
    """Where the pending facts are: their collection, the pending and claim fields."""

    collection: str
    pending: str = "rolled"
    claim: str = "foldBatch"
    fields: tuple[str, ...] = ()  # what a count reads of a fact (all of it when empty)


@dataclass
class Bucket:
    """What a batch adds to one counter document."""

    meta: dict[str, Any]
    inc: dict[str, float] = field(default_factory=dict)
    max: dict[str, int] = field(default_factory=dict)
    push: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, n: float = 1) -> None:
        self.inc[name] = round(self.inc.get(name, 0) + n, 6)

    def most(self, name: str, value: int) -> None:
        if value > self.max.get(name, 0):
            self.max[name] = value


Count = Callable[[str, list[dict[str, Any]]], Awaitable[dict[str, Bucket]]]
Finish = Callable[[str, list[dict[str, Any]]], Awaitable[None]]
Skip = Callable[[], Awaitable[set[int]]]
# Steps 2 to 5 for one batch: its facts as the claim's page read them, or None (read back).
Run = Callable[[str, list[dict[str, Any]] | None], Awaitable[None]]


def clock() -> float:
    """What a fold's deadline is on: `time.monotonic()`."""
    return time.monotonic()


def batch_id(name: str, shop_id: int, docs: list[dict[str, Any]]) -> str:
    """Named by what it holds (ids, and a version where facts have one)."""
    digest = hashlib.sha256()
    for doc in sorted(docs, key=lambda d: str(d["_id"])):
        digest.update(f"{doc['_id']}\0{doc.get('version', 0)}\0".encode())
    return f"{name}:{shop_id}:{digest.hexdigest()[:24]}"


def shop_of(batch: str) -> int:
    return int(batch.split(":")[1])


async def claim_page(facts: Any, stream: Stream, name: str, shop_id: int | None,
                     skip: set[int] | frozenset[int] = frozenset()
                     ) -> tuple[dict[str, list[dict[str, Any]] | None], int, int]:
    """Step 1: the batches of one page of pending facts (resumed ones too), with the facts
    of those this claim took whole (None: read them back), its size, and how many of its
    facts wait; none of the shops in `skip`.

    A shop's batches are applied in order: while one of its batches is resumed (a folder
    died or failed part way, or is at it now), its free facts are not claimed but wait
    for the next page. A newer batch applied meanwhile could let tidy pull an older
    batch's marks from buckets both touched, and that batch, resumed after
    KEEP_APPLIED, would count there twice. A full page (a backlog) need not hold a
    claimed batch's facts: then the claims of the shops about to be claimed for are
    looked up (`{shopId: {$in}, claim: {$type: "string"}}`, the claims' partial index),
    one more round trip a full page."""
    query: dict[str, Any] = {stream.pending: False}
    if shop_id is not None:
        query["shopId"] = shop_id
    elif skip:
        query["shopId"] = {"$nin": sorted(skip)}
    fields = {stream.claim: 1, "shopId": 1, "version": 1, **dict.fromkeys(stream.fields, 1)}
    pending = await facts.find(query, fields).limit(PAGE).to_list(PAGE)
    batches: dict[str, list[dict[str, Any]] | None] = dict.fromkeys(
        d[stream.claim] for d in pending if d.get(stream.claim))
    resumed = {shop_of(b) for b in batches}
    unclaimed = {d["shopId"] for d in pending if not d.get(stream.claim)} - resumed
    if len(pending) == PAGE and unclaimed:
        more = await facts.find({"shopId": {"$in": sorted(unclaimed)},
                                 stream.claim: {"$type": "string"}},
                                {stream.claim: 1, "shopId": 1}).limit(PAGE).to_list(PAGE)
        batches.update(dict.fromkeys(d[stream.claim] for d in more))
        resumed |= {shop_of(d[stream.claim]) for d in more}
    free: dict[int, list[dict[str, Any]]] = {}
    waiting = 0
    for doc in pending:
        if doc.get(stream.claim):
            continue
        if doc["shopId"] in resumed:
            waiting += 1
        else:
            free.setdefault(doc["shopId"], []).append(doc)
    for shop, docs in free.items():  # a batch per shop: every write below names it
        batch = batch_id(name, shop, docs)
        took = await facts.update_many({"shopId": shop, "_id": {"$in": [d["_id"] for d in docs]},
                                        stream.pending: False, stream.claim: {"$exists": False}},
                                       {"$set": {stream.claim: batch}})
        # Every fact claimed now, by this batch: the page read them as the batch holds them.
        whole = stream.fields and took.modified_count == len(docs)
        batches[batch] = docs if whole else None
    return batches, len(pending) - waiting, waiting


async def claimed(facts: Any, stream: Stream, batch: str) -> list[dict[str, Any]]:
    """Step 2's read: the batch's facts, by their claim (the fields counted, if named)."""
    fields = dict.fromkeys(stream.fields, 1) or None
    return await facts.find({"shopId": shop_of(batch), stream.claim: batch}, fields
                            ).to_list(None)


async def fold(storage: Any, stream: Stream, name: str, target: str, count: Count,
               finish: Finish, now: datetime, shop_id: int | None = None,
               skip: Skip | None = None, until: float | None = None) -> int:
    """Count pending facts of `stream` into `target` with `count` and `finish` (steps 2 to
    5, `_one`), page by page (`pages`); how many."""
    facts = getattr(storage, stream.collection)

    async def one(batch: str, docs: list[dict[str, Any]] | None) -> None:
        await _one(storage, facts, stream, target, batch, docs, count, finish, now)

    return await pages(facts, stream, name, one, shop_id, skip, until)


async def pages(facts: Any, stream: Stream, name: str, one: Run, shop_id: int | None = None,
                skip: Skip | None = None, until: float | None = None) -> int:
    """Claim pages of pending facts of `stream` and run `one` on each batch until none is
    left (or, with `until`, a `clock()` deadline, until the page that passes it, and one
    page at least however late: a report's fold, which leaves a backlog to the worker, and
    counts a page of each stream whatever the pages before it took); how many.

    `skip`, asked before each page, names shops to leave alone (a rebuild holds them):
    asked per page, so a folder stops touching such a shop within one page's work.

    Folding every shop (the worker), a batch that fails leaves its shop alone for the
    rest of this run, and the first failure is raised at the end, its `shops` naming
    the shops left alone: one shop's trouble (its batch stays claimed, for the next
    run) does not stall the others. A connection failure (the store away) is raised at
    once, naming no shops."""
    total, n = 0, 0
    broken: set[int] = set()
    failure: Exception | None = None
    while until is None or not n or clock() < until:
        n += 1
        left_out = (await skip() if skip is not None else set()) | broken
        if shop_id is not None and shop_id in left_out:
            break
        batches, size, waiting = await claim_page(facts, stream, name, shop_id, left_out)
        for batch in sorted(batches):
            if shop_of(batch) in broken:
                continue
            try:
                await one(batch, batches[batch])
            except Exception as exc:
                if shop_id is not None or isinstance(exc, ConnectionFailure):
                    # A report's own fold: the failure is its answer. The store away: every
                    # shop's trouble, and each try would wait out the driver's timeout.
                    raise
                log.warning("folding %s failed; shop %s waits for the next run", batch,
                            shop_of(batch), exc_info=True)
                broken.add(shop_of(batch))
                failure = failure or exc
        total += size
        if not waiting and size < PAGE:
            break
    if failure is not None:
        failure.shops = broken  # type: ignore[attr-defined]  # for a caller's next fold
        raise failure
    return total


async def in_turn(runs: list[Callable[[Skip], Awaitable[int]]], shop_id: int | None,
                  skip: Skip | None = None) -> int:
    """Folds of several streams, one after another (a later stream's counts can rest on an
    earlier's: orders convert the exposures their triggers made); how many facts in all.

    Each run is given what to leave alone: `skip`'s shops, and (every shop folded) those
    whose batch failed in an earlier run, whose later facts wait with them. The other
    shops are folded by every run, and the first failure is raised at the end, its
    `shops` naming all the shops left alone. A failure that names no shops (the page
    could not be read), or a report's own (`shop_id`), is raised at once."""
    troubled: set[int] = set()
    failure: Exception | None = None
    total = 0

    async def left_out() -> set[int]:
        return (await skip() if skip is not None else set()) | troubled

    for run in runs:
        try:
            total += await run(left_out)
        except Exception as exc:
            shops = getattr(exc, "shops", None)
            if shop_id is not None or shops is None:
                raise
            troubled |= shops
            failure = failure or exc
    if failure is not None:
        failure.shops = troubled  # type: ignore[attr-defined]
        raise failure
    return total


async def _one(storage: Any, facts: Any, stream: Stream, target: str, batch: str,
               taken: list[dict[str, Any]] | None, count: Count, finish: Finish,
               now: datetime) -> None:
    """Steps 2 to 5 for one batch (its facts read back unless the claim `taken` them)."""
    docs = taken if taken is not None else await claimed(facts, stream, batch)
    if not docs:
        return
    buckets = await count(batch, docs)
    await apply(getattr(storage, target), batch, buckets, now)
    await finish(batch, docs)
    await tidy(getattr(storage, target), buckets, now)


async def apply(target: Any, batch: str, buckets: dict[str, Bucket], now: datetime) -> None:
    """Step 3: each bucket's counts once, whatever repeats this."""
    ops = []
    for bucket_id, bucket in buckets.items():
        inc = {k: v for k, v in bucket.inc.items() if v}
        where = {"_id": bucket_id, "shopId": bucket.meta["shopId"]}
        if inc or bucket.push:
            push: dict[str, Any] = {"applied": {"b": batch, "at": now}}
            push.update({k: {"$each": v, "$slice": PUSH_LIMIT} for k, v in bucket.push.items()})
            update: dict[str, Any] = {"$push": push, "$setOnInsert": bucket.meta}
            if inc:
                update["$inc"] = inc
            if bucket.max:  # in the same guarded update: one write per bucket
                update["$max"] = bucket.max
            ops.append(UpdateOne({**where, "applied.b": {"$ne": batch}}, update, upsert=True))
        elif bucket.max:
            ops.append(UpdateOne(where, {"$max": bucket.max, "$setOnInsert": bucket.meta},
                                 upsert=True))
    for _ in range(3):  # a duplicate key: applied already, or two first inserts racing
        if not ops:
            return
        try:
            await target.bulk_write(ops, ordered=False)
            return
        except BulkWriteError as error:
            errors = error.details["writeErrors"]
            if any(e["code"] != 11000 for e in errors):
                raise
            ops = [ops[e["index"]] for e in errors]  # now the document exists: once more


async def tidy(target: Any, buckets: dict[str, Bucket], now: datetime) -> None:
    """Step 5: old guard marks pulled (a batch is never folded again once finished). A
    bucket is written once this process has applied TIDY_AFTER batches to it since it
    last tidied it (or first saw it), and TIDY_EVERY has passed: most buckets (a
    product's day) get a few batches in all, and their few marks are not worth a write
    each. A bucket holds at most the marks of the last KEEP_APPLIED + TIDY_EVERY, and of
    TIDY_AFTER batches per process beyond."""
    old = {"$lt": now - KEEP_APPLIED}
    tidied = _tidied.setdefault(target, {})
    due = []
    for b, bucket in buckets.items():
        if not (bucket.inc or bucket.push):
            continue  # no mark added
        seen = tidied.setdefault(b, [now, 0])
        seen[1] += 1
        if seen[1] >= TIDY_AFTER and not timedelta(0) <= now - seen[0] < TIDY_EVERY:
            due.append(b)
    ops = [UpdateOne({"_id": b, "shopId": buckets[b].meta["shopId"], "applied.at": old},
                     {"$pull": {"applied": {"at": old}}}) for b in due]
    if ops:
        await target.bulk_write(ops, ordered=False)
    for b in due:
        tidied[b] = [now, 0]
    if len(tidied) > TIDIED_KEPT:
        tidied.clear()


async def owned(presence: Any, shop_id: int, batch: str,
                keys: dict[str, dict[str, Any]]) -> set[str]:
    """Of `keys` (presence id -> its fields), those this batch saw first: inserted
    now, or by an earlier attempt of the same batch.

    One insert of them all, unordered: most are new (a presence is a first sighting),
    and those already there are the insert's duplicate-key errors, the only ones read
    back, for the batch that holds them (an earlier attempt of this one, or another)."""
    if not keys:
        return set()
    docs = [{"_id": key, "shopId": shop_id, **fields, "by": batch}
            for key, fields in keys.items()]
    try:
        await presence.insert_many(docs, ordered=False)
        return set(keys)
    except BulkWriteError as error:
        errors = error.details["writeErrors"]
        if any(e["code"] != 11000 for e in errors):
            raise
        there = [docs[e["index"]]["_id"] for e in errors]
    found = await presence.find({"shopId": shop_id, "_id": {"$in": there}, "by": batch},
                                {"_id": 1}).to_list(None)
    return set(keys) - set(there) | {d["_id"] for d in found}
