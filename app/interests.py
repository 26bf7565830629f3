"""The interest map: what each customer is interested in, by product and by category.

Each interaction adds a weight (shop setting; defaults in app/shops/registry.py: category
view 1; product view 2 to the product and 1 to its category; cart add 5 / 2;
purchase 10 / 4). A weight counts less as it ages, halving every 30 days:

    score(now) = sum over interactions i of  weight_i * 2 ** (-(now - t_i) / H),  H = 30 days

We store the forward-decayed sum  sum weight_i * 2 ** ((t_i - T0) / H)  for a
fixed epoch T0 ("Forward Decay", Cormode et al., ICDE 2009): every stored value
is off by the same factor 2 ** ((now - T0) / H) at read time, so the stored
numbers sort like the scores, an index orders them, and each interaction is one
`$inc`. Scores are computed at read time from the stored value and `now`.

Each shop has its own half-life (`interestHalfLifeSeconds`) and so its own frame
(epoch, half-life). Changing the half-life at moment c keeps every score as it is:
the new epoch T0' solves (c - T0) / H = (c - T0') / H', so no stored value is
rewritten (`Frame.rebased`). The same frame gives the moment a score decays to a
threshold, `T0 + H * log2(S / threshold)` (`Frame.crossing`, used by audiences).
Values stay finite for about 1,000 half-lives after the epoch: 80 years at the
default 30 days; a half-life of seconds is for tests and demos (docs/audiences.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from app.backends.storage import duplicate_indexes
from app.core import interest_key

HALF_LIFE_SECONDS = 30 * 24 * 3600
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
PRODUCT, CATEGORY = "product", "category"


MAX_EXPONENT = 1000.0  # 2 ** 1024 overflows a float; see the module's docstring
LATEST = datetime(9999, 12, 31, tzinfo=UTC)  # a crossing beyond the calendar is "never"
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Frame:
    """A shop's forward-decay frame: stored = sum w * 2 ** ((t - epoch) / half_life)."""

    epoch: float  # Unix seconds
    half_life: float  # seconds

    def _halves(self, at: datetime) -> float:
        return (at.timestamp() - self.epoch) / self.half_life

    def forward(self, weight: float, at: datetime) -> float:
        return weight * _pow2(self._halves(at))

    def score(self, stored: float, now: datetime) -> float:
        return stored * _pow2(-self._halves(now))

    def threshold(self, score: float, now: datetime) -> float:
        """The stored value whose score at `now` is `score` (what an index compares)."""
        return score * _pow2(self._halves(now))

    def crossing(self, stored: float, threshold: float) -> float:
        """When (Unix seconds) the score decays to `threshold`: T0 + H * log2(S / threshold);
        -inf for a score that is nothing."""
        if stored <= 0:
            return -math.inf
        return self.epoch + self.half_life * math.log2(stored / threshold)

    def holds(self, stored: float, threshold: float, now: datetime) -> bool:
        """Whether the score is at least `threshold` at `now` (by the crossing, so that
        holding and falling below are decided by one computation)."""
        return self.crossing(stored, threshold) >= now.timestamp()

    def falls_below(self, stored: float, threshold: float) -> datetime:
        """The first millisecond at which the score is below `threshold`."""
        at = self.crossing(stored, threshold)
        if at >= LATEST.timestamp():
            return LATEST
        if at < 0:  # long before anything was tracked (or never above it)
            return UNIX_EPOCH
        return UNIX_EPOCH + timedelta(milliseconds=math.floor(at * 1000) + 1)

    def rebased(self, half_life: float, at: datetime) -> Frame:
        """The frame with the new half-life in which every score at `at` is unchanged."""
        now = at.timestamp()
        return Frame(now - half_life * (now - self.epoch) / self.half_life, float(half_life))


def _pow2(exponent: float) -> float:
    # Clamped: a date at the calendar's edge must not raise OverflowError in a request.
    return float(2 ** max(-MAX_EXPONENT * 2, min(exponent, MAX_EXPONENT)))


DEFAULT_FRAME = Frame(EPOCH.timestamp(), float(HALF_LIFE_SECONDS))


def forward(weight: float, at: datetime, frame: Frame = DEFAULT_FRAME) -> float:
    return frame.forward(weight, at)


def score(decayed: float, now: datetime, frame: Frame = DEFAULT_FRAME) -> float:
    return frame.score(decayed, now)


@dataclass
class Delta:
    kind: str
    item_id: str
    category_id: str | None
    at: datetime
    decayed: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    source: str = ""  # the event it comes from: an interest doc applies each event once


def interactions(
    kind: str, category_id: str | None, product_id: str | None, at: datetime,
    weights: dict[str, float], frame: Frame = DEFAULT_FRAME,
) -> list[Delta]:
    """What one interaction adds. `kind` is view, productView, cartAdd or purchase."""
    out: list[Delta] = []
    if kind == "categoryView" and category_id:
        out.append(Delta(CATEGORY, category_id, None, at,
                         frame.forward(weights["categoryView"], at), {"views": 1}))
    elif kind in {"productView", "cartAdd", "purchase"} and product_id:
        counter = {"productView": "views", "cartAdd": "cartAdds", "purchase": "purchases"}[kind]
        out.append(Delta(PRODUCT, product_id, category_id, at,
                         frame.forward(weights[f"{kind}Product"], at), {counter: 1}))
        if category_id:
            cat_counter = "productViews" if kind == "productView" else counter
            out.append(Delta(CATEGORY, category_id, None, at,
                             frame.forward(weights[f"{kind}Category"], at), {cat_counter: 1}))
    return out


APPLIED_KEPT = 200  # event ids an interest doc remembers as applied


def updates(shop_id: int, user_id: str, deltas: Iterable[Delta],
            by_source: bool = False) -> list[UpdateOne]:
    """One upsert per touched product or category, however many interactions.

    Deltas that name their source event are applied once per event: the filter asks
    that none of the sources was applied yet, and the update records them. A doc that
    had one of them already answers with a duplicate key (the upsert's insert fails);
    `by_source` then gives one update per (doc, event), to apply only what is missing.
    """
    merged: dict[tuple[str, str], Delta] = {}
    sources: dict[tuple[str, str], list[str]] = {}
    for d in deltas:
        key = interest_key(shop_id, user_id, d.kind, d.item_id)
        group = (key, d.source if by_source else "")
        if d.source:
            sources.setdefault(group, []).append(d.source)
        into = merged.setdefault(group, Delta(d.kind, d.item_id, d.category_id, d.at))
        into.decayed += d.decayed
        into.at = max(into.at, d.at)
        into.category_id = d.category_id or into.category_id
        for name, n in d.counts.items():
            into.counts[name] = into.counts.get(name, 0) + n
    ops = []
    for group, d in merged.items():
        key = group[0]
        fields: dict[str, Any] = {"shopId": shop_id, "userId": user_id, "kind": d.kind,
                                  "itemId": d.item_id}
        if d.category_id:
            fields["categoryId"] = d.category_id
        latest: dict[str, Any] = {"lastInteractionAt": d.at}
        if d.kind == PRODUCT:  # the catalog's triggers ask what, not only when (app/catalog/)
            if d.counts.get("views") or d.counts.get("cartAdds"):
                latest["lastSeenAt"] = d.at
            if d.counts.get("purchases"):
                latest["lastBoughtAt"] = d.at
        update: dict[str, Any] = {"$set": fields, "$inc": {"decayed": d.decayed, **d.counts},
                                  "$max": latest}
        where: dict[str, Any] = {"_id": key, "shopId": shop_id}
        applied = sorted(set(sources.get(group, [])))
        if applied:
            where["appliedEvents"] = {"$nin": applied}
            update["$push"] = {"appliedEvents": {"$each": applied, "$slice": -APPLIED_KEPT}}
        ops.append(UpdateOne(where, update, upsert=True))
    return ops


async def write(collection: Any, shop_id: int, deltas: dict[str, list[Delta]]) -> None:
    """Apply every customer's deltas, each source event once, in one round trip.

    A second one only when a doc had some of the sources already (a retried batch).
    """
    ops, owners = [], []
    for user_id, mine in deltas.items():
        for op in updates(shop_id, user_id, mine):
            ops.append(op)
            owners.append((user_id, op._filter["_id"]))
    if not ops:
        return
    try:
        await collection.bulk_write(ops, ordered=False)
        return
    except BulkWriteError as error:
        again = duplicate_indexes(error)
    retry: dict[str, list[Delta]] = {}
    for index in again:
        user_id, key = owners[index]
        retry.setdefault(user_id, []).extend(
            d for d in deltas[user_id] if interest_key(shop_id, user_id, d.kind, d.item_id) == key)
    ops = [op for user_id, mine in retry.items()
           for op in updates(shop_id, user_id, mine, by_source=True)]
    try:
        await collection.bulk_write(ops, ordered=False)
    except BulkWriteError as error:
        duplicate_indexes(error)  # these events were applied before


def from_event(
    doc: dict[str, Any], weights: dict[str, float], frame: Frame = DEFAULT_FRAME
) -> list[Delta]:
    """The interactions a stored event stands for (used when filing anonymous history)."""
    kind = {"CATEGORY_VIEW": "categoryView", "PRODUCT_VIEW": "productView",
            "CART_ADD": "cartAdd"}.get(doc["type"])
    if kind is None:
        return []
    out = interactions(kind, doc.get("categoryId"), doc.get("productId"), doc["occurredAt"],
                       weights, frame)
    for d in out:
        d.source = doc["_id"]
    return out

