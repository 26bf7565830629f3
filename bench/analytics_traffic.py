"""The traffic bench/analytics_scale.py stores: shoppers' sessions over 30 days.

`sessions(events, seed)` yields sessions in the order they start, spread evenly at
random over the 30 days before END: `events // 20` sessions of 20 events (a visit, a
category view, product views, cart adds), each spaced 20-180 s, on about one visitor
per two sessions (so most visitors come back), 2,000 products in 50 categories
(popular ones more often: a Zipf-like draw), a fifth of the visitors logging in, one
session in ten checking out. Ids are deterministic: the same seed stores the same
shop. `batches` packs whole sessions into batches of 100 events for `track`, each
with its events' explicit times and the clock to set before sending it.

`copies(platform, n)`: tracking a million events through the embedded store would
take most of an hour (mongomock has no secondary indexes: identity linking, carts
and triggers scan), so the big shop is the small shop's traffic tracked for real,
then its stored documents copied n - 1 times, inserted directly: copy k renames
every visitor, customer, order and event id (`av17` -> `av17x3`) and shifts every
time by k * 13 s (session ids carry their start: shifted too). Each copy is other
visitors doing what the tracked ones did, a few seconds later: the same shapes the
pipeline writes, n times the visitors, sessions and events. Copied events are stored
pending for the traffic rollups (`rolled: false`, as `track` stores them when the
rollups are on), so that a fold counts them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.events import Context, EventInput, EventType

END = datetime(2026, 3, 31, tzinfo=UTC)
DAYS = 30
START = END - timedelta(days=DAYS)
SESSION_EVENTS = 20
PRODUCTS, CATEGORIES = 2_000, 50
BATCH = 100
SHOP = 1


def _product(rng: random.Random) -> int:
    return min(int(rng.paretovariate(1.2)) - 1, PRODUCTS - 1)


def session(rng: random.Random, number: int, visitor: int, began: datetime
            ) -> list[EventInput]:
    """One session's events, in time order, all before END."""
    vid = f"av{visitor}"
    out, at = [], began
    product = rng.randrange(PRODUCTS) if rng.random() < 0.5 else _product(rng)
    for step in range(SESSION_EVENTS):
        at += timedelta(seconds=rng.randrange(20, 180))
        ctx = Context(shop_id=SHOP, visitor_id=vid, source_id="site",
                      event_id=f"a{number}.{step}", occurred_at=min(at, END))
        category = f"c{product % CATEGORIES}"
        if step == 0:
            out.append(EventInput(type=EventType.VISIT, context=ctx))
        elif step == 5 and visitor % 5 == 0:
            out.append(EventInput(type=EventType.LOGIN, context=ctx, user_id=f"au{visitor}"))
        elif step == SESSION_EVENTS - 1 and number % 10 == 0:
            out.append(EventInput(type=EventType.CHECKOUT, context=ctx, order_id=f"ao{number}"))
        elif step % 7 == 1:
            out.append(EventInput(type=EventType.CATEGORY_VIEW, context=ctx,
                                  category_id=category))
        elif step % 9 == 8:
            out.append(EventInput(type=EventType.CART_ADD, context=ctx, product_id=f"p{product}",
                                  category_id=category, quantity=1, price=10.0 + product % 90))
        else:
            product = rng.randrange(PRODUCTS) if rng.random() < 0.3 else _product(rng)
            out.append(EventInput(type=EventType.PRODUCT_VIEW, context=ctx,
                                  product_id=f"p{product}", category_id=f"c{product % CATEGORIES}"))
    return out


def sessions(events: int, seed: int) -> Iterator[list[EventInput]]:
    rng = random.Random(seed)
    count = max(1, events // SESSION_EVENTS)
    visitors = max(1, count // 2)
    span = DAYS * 86400 - 2 * 3600  # the last session ends before END
    starts = sorted(rng.randrange(span) for _ in range(count))
    for number, offset in enumerate(starts):
        yield session(rng, number, rng.randrange(visitors), START + timedelta(seconds=offset))


def batches(events: int, seed: int) -> Iterator[tuple[datetime, list[EventInput]]]:
    """(clock, batch): whole sessions, 100 events a batch; the clock never goes back."""
    clock, batch = START, []
    for events_of_one in sessions(events, seed):
        batch += events_of_one
        if len(batch) >= BATCH:
            clock = max(clock, max(e.context.occurred_at for e in batch))  # type: ignore[type-var]
            yield clock, batch
            batch = []
    if batch:
        yield max(clock, max(e.context.occurred_at for e in batch)), batch  # type: ignore[type-var]


COPIED = ("events", "sessions", "orders", "triggers", "visitors", "customers", "carts")
COPY_SHIFT = timedelta(seconds=13)
_IDS = re.compile(r"(?<![A-Za-z0-9])(av|au|ao|a)(\d+)")
_SESSION_START = re.compile(r"\.(\d{13})\b")
MS_SINCE = 10**12  # an int above this is a time in ms (sStartMs, ...)


def _copy(value: Any, k: int, shift: timedelta) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _copy(v, k, shift) for key, v in value.items()}
    if kind is list:
        return [_copy(v, k, shift) for v in value]
    if kind is datetime:
        return value + shift
    if kind is int and value > MS_SINCE:
        return value + int(shift.total_seconds() * 1000)
    if kind is str:
        renamed = _IDS.sub(lambda m: f"{m[1]}{m[2]}x{k}", value)
        ms = int(shift.total_seconds() * 1000)
        return _SESSION_START.sub(lambda m: f".{int(m[1]) + ms}", renamed)
    return value


def _event_copy(doc: dict[str, Any], k: int, pending: bool) -> dict[str, Any]:
    """A copied event as `track` would have stored it: not yet counted by the traffic
    rollups (`rolled: false`, no fold batch) when they are on, unmarked when off."""
    out = {key: v for key, v in _copy(doc, k, k * COPY_SHIFT).items()
           if key not in ("rolled", "foldBatch", "idBatch")}
    if pending:
        out["rolled"] = False
    return out


async def copies(db: Any, n: int, chunk: int = 20_000, pending: bool = True) -> int:
    """Copy what is stored in `db` (the raw database) n - 1 times; the documents added.
    Copied events are pending for the traffic rollups if `pending` (rollups on)."""
    added = 0
    for name in COPIED:
        docs = await db[name].find({}).to_list(None)
        out: list[dict[str, Any]] = []
        for k in range(1, n):
            out += ([_event_copy(d, k, pending) for d in docs] if name == "events"
                    else [_copy(d, k, k * COPY_SHIFT) for d in docs])
            if len(out) >= chunk:
                await db[name].insert_many(out)
                added, out = added + len(out), []
        if out:
            await db[name].insert_many(out)
            added += len(out)
    return added
