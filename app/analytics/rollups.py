"""Traffic rollups: what `stats`, `topProducts`, `topCategories` and `funnel` read.

Events are born pending (`rolled: false`); `fold` (a worker every second, and a
report before it reads) counts them into `rollups` documents, exactly once under
retries, failures between writes and several processes (app/backends/folds.py):

  <shop>:h:<hour ms>              per hour: productViews, categoryViews, cartAdds,
  <shop>:d:<day ms>               checkouts, visitors, identifiedVisitors, and the
                                  funnel's withProductView / withCartAdd / withCheckout
                                  (counted in the hour and day the session started);
                                  `vs` / `is`: the first PUSH_LIMIT visitors and
                                  identified visitors (hashed), `hv.*` / `hi.*`: their
                                  HyperLogLog registers, for distinct counts across buckets
  <shop>:p:<day ms>:<product>     per day and product: views, cartAdds
  <shop>:c:<day ms>:<category>    per day and category: views, productViews, cartAdds

"Once per visitor and bucket" and "once per session and funnel step" are presences
in `rollupSeen` (folds.owned): the batch that inserts `<shop>:vh:<hour>:<visitor>`
counts the visitor in that hour, and a retry of the batch counts the same ones.
A login files a visitor's anonymous history under the customer (app/identity):
those events come back pending as `idRolled: false`, and their fold counts the
visitor identified in the hours and days it was there, through the same presences.

A rebuild (rebuild.py, `python -m app rebuild-stats`) holds a lease on a shop
(leases.py): `fold` leaves such a shop alone, but for the rebuild's own fold, and reads
the leases before each page. A pending event marked `rollSteps` adds only its funnel
steps (a rebuild's tail: its other counts stand).

Sessions and triggers per hour are counted by the performance rollups
(app/attribution/rollups.py: its shop-wide buckets, kind "t"), the one fold those
facts have. Raw events may be deleted (retention) only once folded: counts outlive them.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import app.analytics.leases as leases
from app.analytics.ranges import CART_ADD, CATEGORY_VIEW, CHECKOUT, COUNTED, PRODUCT_VIEW
from app.analytics.sketch import register
from app.backends import folds
from app.core import CO_PENDING, PENDING_EXPIRY, from_ms, to_ms, utc

# A pending event that adds only its funnel steps (a rebuild's tail: rebuild.py).
STEPS_ONLY = "rollSteps"
# What the count reads of an event (`_event`): not its URL, referrer or properties.
COUNTED_FIELDS = ("occurredAt", "type", "visitorId", "userId", "productId", "categoryId",
                  "sessionId", STEPS_ONLY)
EVENTS = folds.Stream("events", fields=COUNTED_FIELDS)
FILED = folds.Stream("events", pending="idRolled", claim="idBatch", fields=COUNTED_FIELDS)
# Purchases (order lines) per day and product or category: orders are the performance
# rollups' facts, which count them into their day buckets of these kinds
# (app/attribution/contributions.py), `<shop>:<kind>:<key>:<day ms>` in `performance`.
PURCHASED_PRODUCT, PURCHASED_CATEGORY = "dp", "dc"
SEEN_DAYS = 400  # a presence outlives the widest range asked (366 days) and late imports
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
_EPOCH, _MS = datetime(1970, 1, 1, tzinfo=UTC), timedelta(milliseconds=1)

FIGURE_OF = {kind: name for name, kind in COUNTED.items()}
STEP_OF = {PRODUCT_VIEW: "withProductView", CART_ADD: "withCartAdd", CHECKOUT: "withCheckout"}
PRODUCT_FIGURES = {PRODUCT_VIEW: "views", CART_ADD: "cartAdds"}
CATEGORY_FIGURES = {CATEGORY_VIEW: "views", PRODUCT_VIEW: "productViews", CART_ADD: "cartAdds"}


def hour_of(at: datetime) -> datetime:
    return utc(at).replace(minute=0, second=0, microsecond=0)


def day_of(at: datetime) -> datetime:
    return hour_of(at).replace(hour=0)


def bucket_id(shop_id: int, kind: str, start: datetime, key: str | None = None) -> str:
    base = f"{shop_id}:{kind}:{to_ms(start)}"
    return base if key is None else f"{base}:{key}"


def performance_id(shop_id: int, kind: str, key: str, ms: int) -> str:
    """A performance rollup's `_id` (app/attribution/contributions.py writes them: hours of
    kinds t, c, r; days of dp, dc), read by key here (reports.py) and by the rebuild (t0)."""
    return f"{shop_id}:{kind}:{key}:{ms}"


@functools.lru_cache(maxsize=65536)  # an event names its visitor in several keys
def hashed(visitor_id: str) -> str:
    """A visitor as the rollups keep it: no visitor id is stored in a counter."""
    return hashlib.sha256(visitor_id.encode()).hexdigest()[:16]


def session_ms(session_id: str) -> int:
    """When a session started, in ms: a session id ends with it (app/tracking/sessions.py)."""
    return int(session_id.rsplit(".", 1)[-1])


def session_start(session_id: str) -> datetime:
    return from_ms(session_ms(session_id))


async def fold(storage: Any, now: datetime, shop_id: int | None = None,
               lease: str | None = None, seconds: float | None = None) -> int:
    """Count pending events (and filed ones) into the rollups; how many were counted.
    With `seconds`, stop at the first page past that long (a report's own fold).

    Shops being rebuilt (app/analytics/rebuild.py) are left alone, but by the rebuild's
    own fold, which passes its `lease`: the leases are read before each page."""

    async def skip() -> set[int]:
        return await leases.held(storage, now, shop_id, lease)

    async def finish_events(batch: str, docs: list[dict[str, Any]]) -> None:
        await _finish(storage, EVENTS, batch, len(docs))

    async def finish_filed(batch: str, docs: list[dict[str, Any]]) -> None:
        await _finish(storage, FILED, batch, len(docs))

    async def count_events(batch: str, docs: list[dict[str, Any]]) -> dict[str, folds.Bucket]:
        return await _count(storage, batch, docs, filed=False)

    async def count_filed(batch: str, docs: list[dict[str, Any]]) -> dict[str, folds.Bucket]:
        return await _count(storage, batch, docs, filed=True)

    # A batch is named by the events it holds; a rebuild folds again events that live
    # batches held, and a presence such a batch left must not count again for the
    # refold: the rebuild's batches carry its lease in their name.
    named = "" if lease is None else f".{lease}"
    until = None if seconds is None else folds.clock() + seconds

    async def events(left_out: folds.Skip) -> int:
        return await folds.fold(storage, EVENTS, f"events{named}", "rollups", count_events,
                                finish_events, now, shop_id, left_out, until)

    async def filed(left_out: folds.Skip) -> int:
        return await folds.fold(storage, FILED, f"filed{named}", "rollups", count_filed,
                                finish_filed, now, shop_id, left_out, until)

    # A shop whose events failed is left alone by the filed events' fold too, and the
    # other shops' are folded (folds.in_turn).
    return await folds.in_turn([events, filed], shop_id, skip)


async def _finish(storage: Any, stream: folds.Stream, batch: str, size: int) -> None:
    """The batch's events leave the pending state. Those no other fold waits for (a
    product view's co-occurrence, `coAt`) take their expiry (`expireAt`, what MongoDB's
    TTL index deletes by; a filed event has none) in the same write; the others keep it
    aside for that fold to move (app/recommendations/fold.py)."""
    done = {stream.pending: "", stream.claim: ""}
    mine = {"shopId": folds.shop_of(batch), stream.claim: batch}
    if stream == EVENTS:
        done[STEPS_ONLY] = ""
        moved = await storage.events.update_many(
            {**mine, CO_PENDING: {"$exists": False}},
            {"$unset": done, "$rename": {PENDING_EXPIRY: "expireAt"}})
        if moved.modified_count == size:
            return
    await storage.events.update_many(mine, {"$unset": done})


def _ms(at: datetime) -> int:
    """A time in whole milliseconds, by integer arithmetic (no float on the way)."""
    return (utc(at) - _EPOCH) // _MS


class _Tally:
    """A batch's buckets, and the presences whose first sighting adds to them. Times are
    whole milliseconds: an hour's bucket starts at `ms - ms % HOUR_MS` (a fold tallies
    every event of a page: an event's hour and day are integer arithmetic, and a bucket's
    start is made a datetime once, when the bucket is)."""

    def __init__(self, shop_id: int) -> None:
        self.shop_id = shop_id
        self.buckets: dict[str, folds.Bucket] = {}
        self.seen: dict[str, dict[str, Any]] = {}
        self.effects: dict[str, tuple[str, str, str | None]] = {}
        self._ids: dict[tuple[str, int, str | None], str] = {}  # (kind, start, key) -> id

    def bucket(self, kind: str, start: int, key: str | None = None) -> folds.Bucket:
        bid = self._ids.get((kind, start, key))
        if bid is None:
            at = from_ms(start)
            bid = self._ids[(kind, start, key)] = bucket_id(self.shop_id, kind, at, key)
            meta = {"shopId": self.shop_id, "kind": kind, "at": at}
            if key is not None:
                meta["key"] = key
            self.buckets[bid] = folds.Bucket(meta)
        return self.buckets[bid]

    def once(self, presence: str, start: int, kind: str, figure: str,
             visitor: str | None = None) -> None:
        """Add 1 to `figure` of the (kind, start) bucket if this batch sees `presence` first."""
        key = f"{self.shop_id}:{presence}"
        if key not in self.seen:  # the key names its bucket and figure: one effect
            at = self.bucket(kind, start).meta["at"]
            self.seen[key] = {"at": at, "expireAt": at + timedelta(days=SEEN_DAYS)}
            self.effects[key] = (self._ids[(kind, start, None)], figure, visitor)


async def _count(storage: Any, batch: str, docs: list[dict[str, Any]],
                 filed: bool) -> dict[str, folds.Bucket]:
    tally = _Tally(folds.shop_of(batch))
    for event in docs:
        _event(tally, event, filed)
    mine = await folds.owned(storage.rollupSeen, tally.shop_id, batch, tally.seen)
    for key in sorted(mine):
        bid, figure, visitor = tally.effects[key]
        bucket = tally.buckets[bid]
        bucket.add(f"n.{figure}")
        if visitor is not None:
            _visitor(bucket, figure, visitor)
    return tally.buckets


def _visitor(bucket: folds.Bucket, figure: str, visitor: str) -> None:
    """The visitor in the bucket's exact list (while short) and HyperLogLog registers."""
    listed, registers = ("vs", "hv") if figure == "visitors" else ("is", "hi")
    bucket.push.setdefault(listed, []).append(hashed(visitor))
    index, rank = register(visitor)
    bucket.most(f"{registers}.{index}", rank)


def _event(tally: _Tally, event: dict[str, Any], filed: bool) -> None:
    if event.get(STEPS_ONLY) and not filed:
        _steps(tally, event)  # counted whole once already; its session's steps were undone
        return
    at, kind = _ms(event["occurredAt"]), event.get("type")
    visitor = event.get("visitorId") or ""
    who = hashed(visitor)
    identified = event.get("userId") is not None
    figure = None if filed else FIGURE_OF.get(kind)
    for scale, start in (("h", at - at % HOUR_MS), ("d", at - at % DAY_MS)):
        if identified:
            tally.once(f"i{scale}:{start}:{who}", start, scale, "identifiedVisitors", visitor)
        if filed:
            continue  # a filed event was counted once already; only its customer is new
        tally.once(f"v{scale}:{start}:{who}", start, scale, "visitors", visitor)
        if figure is not None:
            tally.bucket(scale, start).add(f"n.{figure}")
    if filed:
        return
    day = at - at % DAY_MS
    if kind in PRODUCT_FIGURES and event.get("productId") is not None:
        tally.bucket("p", day, str(event["productId"])).add(f"n.{PRODUCT_FIGURES[kind]}")
    if kind in CATEGORY_FIGURES and event.get("categoryId") is not None:
        tally.bucket("c", day, str(event["categoryId"])).add(f"n.{CATEGORY_FIGURES[kind]}")
    _steps(tally, event)


def _steps(tally: _Tally, event: dict[str, Any]) -> None:
    """The funnel: the event's step, once per session, in the hour and day it started."""
    kind = event.get("type")
    if kind in STEP_OF and event.get("sessionId"):
        started = session_ms(event["sessionId"])
        for scale, start in (("h", started - started % HOUR_MS),
                             ("d", started - started % DAY_MS)):
            tally.once(f"f{kind[:2]}{scale}:{hashed(event['sessionId'])}", start, scale,
                       STEP_OF[kind])
