"""The interest map: what each customer is interested in, by product and by category.

Each interaction adds a weight (shop setting; defaults in app/shops.py: category
view 1; product view 2 to the product and 1 to its category; cart add 5 / 2;
purchase 10 / 4). A weight counts less as it ages, halving every 30 days:

    score(now) = sum over interactions i of  weight_i * 2 ** (-(now - t_i) / H),  H = 30 days

We store the forward-decayed sum  sum weight_i * 2 ** ((t_i - T0) / H)  for a
fixed epoch T0 ("Forward Decay", Cormode et al., ICDE 2009): every stored value
is off by the same factor 2 ** ((now - T0) / H) at read time, so the stored
numbers sort like the scores, an index orders them, and each interaction is one
`$inc`. Scores are computed at read time from the stored value and `now`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from app.keys import interest_key

HALF_LIFE_SECONDS = 30 * 24 * 3600
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
PRODUCT, CATEGORY = "product", "category"


def forward(weight: float, at: datetime) -> float:
    return weight * 2 ** ((at - EPOCH).total_seconds() / HALF_LIFE_SECONDS)


def score(decayed: float, now: datetime) -> float:
    return decayed * 2 ** (-(now - EPOCH).total_seconds() / HALF_LIFE_SECONDS)


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
    weights: dict[str, float],
) -> list[Delta]:
    """What one interaction adds. `kind` is view, productView, cartAdd or purchase."""
    out: list[Delta] = []
    if kind == "categoryView" and category_id:
        out.append(Delta(CATEGORY, category_id, None, at,
                         forward(weights["categoryView"], at), {"views": 1}))
    elif kind in {"productView", "cartAdd", "purchase"} and product_id:
        counter = {"productView": "views", "cartAdd": "cartAdds", "purchase": "purchases"}[kind]
        out.append(Delta(PRODUCT, product_id, category_id, at,
                         forward(weights[f"{kind}Product"], at), {counter: 1}))
        if category_id:
            cat_counter = "productViews" if kind == "productView" else counter
            out.append(Delta(CATEGORY, category_id, None, at,
                             forward(weights[f"{kind}Category"], at), {cat_counter: 1}))
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
        update: dict[str, Any] = {"$set": fields, "$inc": {"decayed": d.decayed, **d.counts},
                                  "$max": {"lastInteractionAt": d.at}}
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
        again = _duplicates(error)
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
        _duplicates(error)  # these events were applied before


def _duplicates(error: BulkWriteError) -> list[int]:
    """The indexes of ops refused as duplicates; any other error is raised."""
    errors = error.details["writeErrors"]
    if any(e["code"] != 11000 for e in errors):
        raise error
    return [e["index"] for e in errors]


def from_event(doc: dict[str, Any], weights: dict[str, float]) -> list[Delta]:
    """The interactions a stored event stands for (used when filing anonymous history)."""
    kind = {"CATEGORY_VIEW": "categoryView", "PRODUCT_VIEW": "productView",
            "CART_ADD": "cartAdd"}.get(doc["type"])
    if kind is None:
        return []
    out = interactions(kind, doc.get("categoryId"), doc.get("productId"), doc["occurredAt"],
                       weights)
    for d in out:
        d.source = doc["_id"]
    return out

