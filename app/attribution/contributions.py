"""What each fact adds to the rollups (app/attribution/rollups.py), and its bookkeeping.

Rule buckets (kind "r", by the hour the trigger fired) count:
  triggers, delivered, heldOut            per trigger
  customers, heldCustomers                per (rule, customer) exposure, at its first trigger
  clicks                                  per session opened through a trigger's link
  orders, revenue                         per attributed order (placed or paid)
  converted, heldConverted                per exposure whose customer ordered within the
                                          window after its trigger
Shop buckets (kind "t", key "all", by the hour): sessions and triggers, every one of them
  (the dashboard's stats read these: app/analytics/reports.py).
Channel buckets (kind "c", by the hour the session started or the order was placed):
  sessions, orders, revenue, and `v.<register>`: HyperLogLog registers of visitors
  (app/analytics/sketch.py `register`).
Purchase buckets (kinds "dp" and "dc", key a product or a category, by the day the order
  was placed, `_id` "<shop>:<kind>:<key>:<day ms>"): purchases, the order lines of any
  status (the top lists read them: app/analytics/reports.py).

Exposures (`exposures`, `_id` "<shop>:<rule>:<customer>") remember a customer's
first and last trigger of a rule and whether they were held out; their `counted`
and `converted` flags are claimed by one batch (set to its id), so a customer
counts once however many folds run. An order's counts are frozen on it
(`folding`) before they are applied and kept as `counted` after, so a change of
status later adds only the difference.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne

from app.analytics import PURCHASED_CATEGORY, PURCHASED_PRODUCT, performance_id, register
from app.core import to_ms, utc

ALL = "all"  # the key of a shop's own buckets (kind "t"): every session and trigger
IN_SHOP_HOURS = "inShopHours"  # a session or trigger counted in them
NOT_A_CAUSE = ("ORDER_COMPLETED",)  # as orders.py: never what brought an order
COUNTED_STATUSES = ("PLACED", "PAID")


def hour_of(at: datetime) -> datetime:
    return utc(at).replace(minute=0, second=0, microsecond=0)


class Counts:
    """A batch's counts by bucket."""

    def __init__(self) -> None:
        self.incs: dict[str, tuple[dict[str, Any], dict[str, float]]] = {}
        self.maxes: dict[str, tuple[dict[str, Any], dict[str, int]]] = {}

    @staticmethod
    def bucket(shop_id: int, kind: str, key: str, at: datetime) -> tuple[str, dict[str, Any]]:
        hour = hour_of(at)
        meta = {"shopId": shop_id, "kind": kind, "key": key, "hour": hour}
        return performance_id(shop_id, kind, key, to_ms(hour)), meta

    def add(self, shop_id: int, kind: str, key: str | None, at: datetime | None,
            **counts: float) -> None:
        if key is None or at is None:
            return
        bucket_id, meta = self.bucket(shop_id, kind, key, at)
        _, inc = self.incs.setdefault(bucket_id, (meta, {}))
        for name, n in counts.items():
            inc[name] = round(inc.get(name, 0) + n, 6)

    def add_day(self, shop_id: int, kind: str, key: str, at: datetime, **counts: float) -> None:
        """Into a day bucket, `<shop>:<kind>:<key>:<day ms>` (the top lists' purchases)."""
        day = hour_of(at).replace(hour=0)
        bucket_id = performance_id(shop_id, kind, key, to_ms(day))
        meta = {"shopId": shop_id, "kind": kind, "key": key, "day": day}
        _, inc = self.incs.setdefault(bucket_id, (meta, {}))
        for name, n in counts.items():
            inc[name] = round(inc.get(name, 0) + n, 6)

    def visitor(self, shop_id: int, channel: str, at: datetime, visitor_id: str) -> None:
        bucket_id, meta = self.bucket(shop_id, "c", channel, at)
        _, regs = self.maxes.setdefault(bucket_id, (meta, {}))
        index, rank = register(visitor_id)
        regs[str(index)] = max(regs.get(str(index), 0), rank)

    def buckets(self) -> list[tuple[str, int]]:
        return [(b, m["shopId"]) for b, (m, _) in {**self.incs, **self.maxes}.items()]


def owner(doc: dict[str, Any]) -> str:
    return f"u:{doc['userId']}" if doc.get("userId") else f"v:{doc.get('visitorId')}"


def exposure_key(shop_id: int, rule_id: str, who: str) -> str:
    return f"{shop_id}:{rule_id}:{who}"


async def of(storage: Any, name: str, batch: str, docs: list[dict[str, Any]]) -> Counts:
    counts = Counts()
    if name == "triggers":
        await _triggers(storage, batch, docs, counts)
    elif name == "sessions":
        for s in docs:
            channel = s.get("channel") or "DIRECT"
            counts.add(s["shopId"], "t", ALL, s["startedAt"], sessions=1)
            counts.add(s["shopId"], "c", channel, s["startedAt"], sessions=1)
            counts.visitor(s["shopId"], channel, s["startedAt"], s["visitorId"])
            if s.get("triggerRuleId"):
                counts.add(s["shopId"], "r", s["triggerRuleId"],
                           s.get("triggerFiredAt") or s["startedAt"], clicks=1)
    else:
        await _orders(storage, batch, docs, counts)
    return counts


async def _triggers(storage: Any, batch: str, docs: list[dict[str, Any]],
                    counts: Counts) -> None:
    ops, keys = [], []
    for t in docs:
        counts.add(t["shopId"], "t", ALL, t["firedAt"], triggers=1)
        rule = t.get("ruleId")
        if rule is None:
            continue
        held = bool(t.get("heldOut"))
        counts.add(t["shopId"], "r", rule, t["firedAt"], triggers=1, delivered=int(not held),
                   heldOut=int(held))
        if t.get("type") in NOT_A_CAUSE:
            continue  # an order's own confirmation: no one to convert
        key = exposure_key(t["shopId"], rule, owner(t))
        keys.append(key)
        ops.append(UpdateOne({"_id": key, "shopId": t["shopId"]}, {
            "$setOnInsert": {"ruleId": rule, "userId": t.get("userId"),
                             "visitorId": t.get("visitorId"), "firstAt": t["firedAt"],
                             "heldOut": held, "counted": False, "converted": False},
            "$max": {"lastAt": t["firedAt"]}}, upsert=True))
    if not ops:
        return
    await storage.exposures.bulk_write(ops, ordered=False)
    shop = docs[0]["shopId"]  # a batch is one shop's (rollups.py)
    await storage.exposures.update_many({"shopId": shop, "_id": {"$in": keys},
                                         "counted": False}, {"$set": {"counted": batch}})
    for e in await storage.exposures.find({"shopId": shop, "_id": {"$in": keys},
                                           "counted": batch}).to_list(None):
        held = bool(e.get("heldOut"))
        counts.add(e["shopId"], "r", e["ruleId"], e["firstAt"], customers=int(not held),
                   heldCustomers=int(held))


def wanted(order: dict[str, Any]) -> dict[str, Any]:
    """What an order adds to the buckets now: by channel, to its trigger's rule, and its
    lines per product and category to the day it was placed."""
    live = order.get("status", "PLACED") in COUNTED_STATUSES
    revenue = float(order.get("revenue") or 0) if live else 0.0
    out: dict[str, Any] = {}
    if order.get("completedAt") is not None:
        out["c"] = [order.get("channel") or "DIRECT", order["completedAt"], int(live), revenue]
        out["p"] = [order["completedAt"], _lines(order, "productId"),
                    _lines(order, "categoryId")]
    attribution = order.get("attribution")
    if attribution and attribution.get("ruleId"):
        out["r"] = [attribution["ruleId"], attribution.get("firedAt") or attribution["at"],
                    int(live), revenue]
    return out


def _lines(order: dict[str, Any], field: str) -> list[list[Any]]:
    """[key, lines]: the order's lines per product (or category), whatever its status,
    as the top lists count purchases (app/analytics/recount.py `purchases`)."""
    lines: dict[str, int] = {}
    for item in order.get("items") or []:
        key = item.get(field) if isinstance(item, dict) else None
        if isinstance(key, str):  # as a top list's keys are
            lines[key] = lines.get(key, 0) + 1
    return [[k, n] for k, n in sorted(lines.items())]


async def freeze_orders(storage: Any, batch: str, docs: list[dict[str, Any]]
                        ) -> list[dict[str, Any]]:
    """Step 2 for orders: their counts, frozen under the batch id (kept if already)."""
    ops = [UpdateOne({"_id": d["_id"], "shopId": d["shopId"], "folding.b": {"$ne": batch}},
                     {"$set": {"folding": {"b": batch, "want": wanted(d),
                                           "version": d.get("version", 0)}}}) for d in docs]
    await storage.orders.bulk_write(ops, ordered=False)
    return await storage.orders.find({"shopId": docs[0]["shopId"], "foldBatch": batch}
                                     ).to_list(None)


async def _orders(storage: Any, batch: str, docs: list[dict[str, Any]], counts: Counts) -> None:
    for o in docs:
        want, had = o["folding"]["want"], o.get("counted") or {}
        for kind in ("c", "r"):
            for sign, parts in ((1, want.get(kind)), (-1, had.get(kind))):
                if parts:
                    key, at, n, revenue = parts
                    counts.add(o["shopId"], kind, key, at, orders=sign * n,
                               revenue=sign * revenue)
        for sign, parts in ((1, want.get("p")), (-1, had.get("p"))):
            if parts:
                at, products, categories = parts
                for kind, lines in ((PURCHASED_PRODUCT, products),
                                    (PURCHASED_CATEGORY, categories)):
                    for key, n in lines:
                        counts.add_day(o["shopId"], kind, key, at, purchases=sign * n)
    # A placed order converts, whatever its status later: the same answer whether it
    # was cancelled before or after it was first counted.
    await _conversions(storage, docs[0]["shopId"], batch,
                       [o for o in docs if not o.get("counted")], counts)


async def _conversions(storage: Any, shop: int, batch: str, docs: list[dict[str, Any]],
                       counts: Counts) -> None:
    """A new order converts its customer's exposures of any rule whose trigger came
    before it, within the shop's window as it was when the order was stored."""
    for o in docs:
        at = utc(o["completedAt"])
        window = timedelta(seconds=o.get("window") or 604_800)
        whose = []
        if o.get("userId"):
            whose.append({"userId": o["userId"]})
        if o.get("visitorId"):
            whose.append({"userId": None, "visitorId": o["visitorId"]})
        if not whose:
            continue
        await storage.exposures.update_many(
            {"shopId": o["shopId"], "$or": whose, "converted": False,
             "firstAt": {"$lte": at}, "lastAt": {"$gte": at - window}},
            {"$set": {"converted": batch}})
    for e in await storage.exposures.find({"shopId": shop, "converted": batch}).to_list(None):
        held = bool(e.get("heldOut"))
        counts.add(e["shopId"], "r", e["ruleId"], e["firstAt"], converted=int(not held),
                   heldConverted=int(held))


async def finish(storage: Any, name: str, batch: str, docs: list[dict[str, Any]]) -> None:
    """Step 4: the facts are counted."""
    facts = getattr(storage, name)
    if name != "orders":
        # inShopHours: in the shop's hourly buckets (kind "t"); facts folded before those
        # existed lack it, and a rebuild counts them into a baseline (analytics/rebuild.py).
        await facts.update_many({"shopId": docs[0]["shopId"], "foldBatch": batch},
                                {"$set": {"rolled": True, IN_SHOP_HOURS: True},
                                 "$unset": {"foldBatch": ""}})
        return
    ops = []
    done = {"$unset": {"foldBatch": "", "folding": ""}}
    for o in docs:
        frozen = o["folding"]
        key = {"_id": o["_id"], "shopId": o["shopId"], "foldBatch": batch}
        # Unchanged since frozen: counted. Changed meanwhile (upsertOrders bumped its
        # `version`): counted as frozen, and left pending for the difference.
        ops.append(UpdateOne({**key, "version": {"$in": [frozen["version"]] + (
            [None] if frozen["version"] == 0 else [])}},
            {"$set": {"counted": frozen["want"], "rolled": True}, **done}))
        ops.append(UpdateOne(key, {"$set": {"counted": frozen["want"]}, **done}))
    if ops:
        await storage.orders.bulk_write(ops, ordered=True)
