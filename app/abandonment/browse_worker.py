"""The abandoned browse and category worker: it fires the sessions that went quiet.

What a session viewed, and when it falls due (`wDueMs`), is kept with the
session's own writes (app/abandonment/watch.py): on the visitor document for its
current session, on the session document for one that closed while watched.
Each tick reads both through the partial index `abandonment_due`, which holds
only identified sessions that are watched, so its cost grows with what is due,
not with the sessions kept, and an anonymous session waits outside the index
until its visitor is identified (its visitor or session document gains the
`userId`), then fires at the next tick if it is still due.

Exactly once, with any number of processes: a trigger's id is the session and
the rule (`"<shop>:<sessionId>:<ruleId>"`); only the first insert of that id
succeeds, and only that process publishes it. The session is then settled
(`wDueMs` moved to its next rule's due time, or cleared) with one update
conditional on the state it was read in. A late event moves `wDueMs` again, but
the rules it fires again have fired for this session already: their ids are
stored, so nothing fires twice. A process dying between the insert and the
settling leaves the session due; the next tick finds its triggers stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import UpdateOne

from app import interests, triggers
from app.abandonment.watch import Seen
from app.core import from_ms, interest_key, session_key, to_ms, utc
from app.platform import Platform
from app.triggers import Rule, RuleSet, caps

BATCH = 1000
MAX_BATCHES = 20  # per source and tick; what is left waits for the next tick
MAX_PRODUCTS = 10  # products a browse trigger carries


@dataclass(frozen=True)
class Source:
    """Where watched sessions are kept, and the names of their fields there."""

    collection: str
    session_field: str
    last_field: str


CURRENT = Source("visitors", "sid", "sLastMs")
CLOSED = Source("sessions", "sessionId", "wLastMs")


def due_query(now_ms: int) -> dict[str, Any]:
    """Watched identified sessions due at `now_ms`; it names the partial index's filter."""
    return {"wDueMs": {"$type": "number", "$lte": now_ms}, "userId": {"$type": "string"}}


@dataclass
class _Plan:
    """What one due session fires, and how it is left."""

    doc: dict[str, Any]
    seen: Seen
    kind: str | None = None
    firing: list[Rule] = field(default_factory=list)
    next_due: int | None = None
    category_id: str | None = None


async def fire_due_sessions(platform: Platform, limit: int = BATCH) -> int:
    """Fire the sessions that are due; returns how many triggers this process fired."""
    fired = 0
    for source in (CURRENT, CLOSED):
        for _ in range(MAX_BATCHES):
            found, fresh = await _fire_batch(platform, source, limit)
            fired += fresh
            if found < limit:
                break
    return fired


async def _fire_batch(platform: Platform, source: Source, limit: int) -> tuple[int, int]:
    """One batch: find, read the customers' interests, store the triggers, settle."""
    storage = platform.storage
    now = platform.clock.now()
    collection = getattr(storage, source.collection)
    due = await collection.find(due_query(to_ms(now))).sort("wDueMs", 1).limit(limit) \
        .to_list(limit)
    if not due:
        return 0, 0
    shops = await _shops(platform, {doc["shopId"] for doc in due})
    rulesets = {shop_id: ruleset for shop_id, (ruleset, _) in shops.items()}
    plans = [_plan(doc, source, to_ms(now), *shops.get(doc["shopId"], (None, 0))) for doc in due]
    browsing = [p for p in plans if p.firing and p.kind == triggers.ABANDONED_BROWSE]
    found = await _interests(platform, browsing)
    fired = [doc for plan in plans for doc in _triggers(plan, source, now, found)]
    admitted = await caps.admit(storage, fired,
                                lambda doc: rulesets[doc["shopId"]].cap_of(doc["ruleId"]))
    fresh = await platform.outbox.record(admitted)
    await collection.bulk_write([_settle(plan, source) for plan in plans], ordered=False)
    return len(due), len(fresh)


async def _shops(platform: Platform, shop_ids: set[int]) -> dict[int, tuple[RuleSet, int]]:
    """Each shop's rules, and how long (ms) an anonymous history is kept there."""
    out = {}
    for shop_id in shop_ids:
        shop = await platform.shops.get(shop_id)
        if shop is not None:
            out[shop_id] = (await platform.rules.ruleset(shop),
                            shop.settings.anonymous_history_days * 86_400_000)
    return out


def _plan(doc: dict[str, Any], source: Source, now_ms: int, ruleset: RuleSet | None,
          history_ms: int) -> _Plan:
    """The rules a due session fires now, and when it is due next.

    A rule that fell due longer ago than the shop keeps anonymous history does not
    fire: only an anonymous session identified that late is so old, and its events
    are past filing.
    """
    seen = Seen.from_doc(doc)
    plan = _Plan(doc, seen, seen.kind(), category_id=seen.top_category())
    last_ms = doc.get(source.last_field)
    if ruleset is None or plan.kind is None or last_ms is None:
        return plan
    for rule in ruleset.enabled(plan.kind):
        at = last_ms + (ruleset.delay_of(rule) or 0) * 1000
        if at > now_ms:
            plan.next_due = at if plan.next_due is None else min(plan.next_due, at)
        elif rule.accepts(plan.category_id) and at >= now_ms - history_ms:
            plan.firing.append(rule)
    return plan


async def _interests(platform: Platform, plans: list[_Plan]) -> dict[str, dict[str, Any]]:
    """The interest documents of the products the browsing sessions viewed, by `_id`:
    one read per shop, by id."""
    wanted: dict[int, list[str]] = {}
    for plan in plans:
        shop_id, user_id = plan.doc["shopId"], plan.doc["userId"]
        wanted.setdefault(shop_id, []).extend(
            interest_key(shop_id, user_id, interests.PRODUCT, p)
            for p in plan.seen.distinct_products())
    found: dict[str, dict[str, Any]] = {}
    for shop_id, ids in wanted.items():
        for doc in await platform.storage.interests.find(
                {"_id": {"$in": ids}, "shopId": shop_id}).to_list(None):
            found[doc["_id"]] = doc
    return found


def _products(plan: _Plan, now: datetime, found: dict[str, dict[str, Any]]
              ) -> list[dict[str, Any]]:
    """The products the session viewed, by the customer's interest score, at most 10."""
    shop_id, user_id = plan.doc["shopId"], plan.doc["userId"]
    viewed_last = from_ms(plan.doc.get("wLastMs") or plan.doc.get("sLastMs") or 0)
    out = []
    for product_id in plan.seen.distinct_products():
        doc = found.get(interest_key(shop_id, user_id, interests.PRODUCT, product_id))
        if doc is None:  # its interest is being written right now: it counts for nothing yet
            doc = {"lastInteractionAt": viewed_last}
        out.append({
            "productId": product_id, "categoryId": doc.get("categoryId"),
            "score": interests.score(doc.get("decayed", 0.0), now),
            "views": doc.get("views", 0), "cartAdds": doc.get("cartAdds", 0),
            "purchases": doc.get("purchases", 0),
            "lastInteractionAt": utc(doc["lastInteractionAt"]),
        })
    out.sort(key=lambda p: -p["score"])  # stable: equal scores keep the session's order
    return out[:MAX_PRODUCTS]


def _triggers(plan: _Plan, source: Source, now: datetime, found: dict[str, dict[str, Any]]
              ) -> list[dict[str, Any]]:
    if not plan.firing:
        return []
    doc = plan.doc
    session_id = doc[source.session_field]
    products = _products(plan, now, found) if plan.kind == triggers.ABANDONED_BROWSE else None
    return [triggers.make(
        f"{session_key(doc['shopId'], session_id)}:{rule.rule_id}", str(plan.kind),
        doc["shopId"], fired_at=now, visitor_id=doc["visitorId"], user_id=doc["userId"],
        rule_id=rule.rule_id, products=products, category_id=plan.category_id,
    ) for rule in plan.firing]


def _settle(plan: _Plan, source: Source) -> UpdateOne:
    """Leave the session due for its next rule, if any; unless it changed since it was read."""
    doc = plan.doc
    return UpdateOne(
        {"_id": doc["_id"], "shopId": doc["shopId"],
         source.session_field: doc[source.session_field], "wDueMs": doc["wDueMs"]},
        {"$set": {"wDueMs": plan.next_due}})
