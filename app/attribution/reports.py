"""`triggerPerformance` and `channels`: sums of the hourly rollups in a range.

A report first folds the shop's pending facts (rollups.py: at most what arrived
since the worker last ran), then reads the buckets of [from, to) by hour: one
indexed read of (rules or channels) x hours documents, whatever the traffic.
Hours are whole: a bucket counts when its hour starts in [from, to), so ranges
on whole hours are exact. Visitors are a HyperLogLog estimate (app/analytics/sketch.py: 2^14
registers, about 0.8% error; exact in practice for small counts through linear counting).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.analytics import estimate, merge
from app.attribution.channels import CHANNELS
from app.attribution.contributions import hour_of
from app.attribution.lift import lift_of
from app.attribution.rollups import fold
from app.core import BadInput

MAX_RANGE_DAYS = 400


async def _buckets(storage: Any, shop_id: int, kind: str, start: datetime, end: datetime
                   ) -> list[dict[str, Any]]:
    if end <= start:
        raise BadInput("`to` must come after `from`", field="to")
    if (end - start).days > MAX_RANGE_DAYS:
        raise BadInput(f"a report covers at most {MAX_RANGE_DAYS} days", field="to")
    return await storage.performance.find(
        {"shopId": shop_id, "kind": kind, "hour": {"$gte": hour_of(start), "$lt": end}},
        {"applied": 0}).to_list(None)


def _sum(docs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for doc in docs:
        mine = out.setdefault(doc["key"], {})
        for name, n in (doc.get("n") or {}).items():
            mine[name] = mine.get(name, 0) + n
    return out


async def trigger_performance(storage: Any, now: datetime, shop_id: int, rules: list[Any],
                              start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per rule of the shop (and any rule gone since that has counts): the contract's
    RulePerformance, plus lift's 95% interval and the customer counts."""
    await fold(storage, now, shop_id)
    docs = await _buckets(storage, shop_id, "r", start, end)
    sums = _sum(docs)
    types = {doc["key"]: doc.get("type") for doc in docs}
    known = {r.rule_id: r for r in rules}
    out = []
    for rule_id in [*known, *sorted(set(sums) - set(known))]:
        n = sums.get(rule_id, {})
        rule = known.get(rule_id)
        type_ = rule.type if rule else types.get(rule_id) or _type_of(rule_id)
        if type_ is None:
            continue
        lift = lift_of(int(n.get("customers", 0)), int(n.get("converted", 0)),
                       int(n.get("heldCustomers", 0)), int(n.get("heldConverted", 0)))
        out.append({
            "rule_id": rule_id, "type": type_, "title": rule.title if rule else None,
            "triggers": int(n.get("triggers", 0)), "delivered": int(n.get("delivered", 0)),
            "held_out": int(n.get("heldOut", 0)), "clicks": int(n.get("clicks", 0)),
            "orders": int(n.get("orders", 0)), "revenue": round(n.get("revenue", 0.0), 2),
            "conversion_rate": lift.conversion_rate,
            "holdout_conversion_rate": lift.holdout_conversion_rate, "lift": lift.lift,
            "lift_low": lift.low, "lift_high": lift.high,
            "customers": int(n.get("customers", 0)),
            "holdout_customers": int(n.get("heldCustomers", 0)),
        })
    return out


def _type_of(rule_id: str) -> str | None:
    """A default rule's type is in its id (app/triggers/rules.py default_rule_id)."""
    return rule_id.split(":", 1)[1] if rule_id.startswith("default:") else None


async def channels(storage: Any, now: datetime, shop_id: int, start: datetime, end: datetime
                   ) -> list[dict[str, Any]]:
    """Per channel with sessions or orders in the range, in the contract's order."""
    await fold(storage, now, shop_id)
    docs = await _buckets(storage, shop_id, "c", start, end)
    sums = _sum(docs)
    sketches: dict[str, list[dict[str, int]]] = {}
    for doc in docs:
        sketches.setdefault(doc["key"], []).append(doc.get("v") or {})
    out = []
    for channel in CHANNELS:
        n = sums.get(channel)
        if not n and channel not in sketches:
            continue
        n = n or {}
        out.append({"channel": channel, "sessions": int(n.get("sessions", 0)),
                    "visitors": estimate(merge(sketches.get(channel, []))),
                    "orders": int(n.get("orders", 0)),
                    "revenue": round(n.get("revenue", 0.0), 2)})
    return out

