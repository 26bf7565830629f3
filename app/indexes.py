"""Every collection and the indexes that serve its query shapes."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

ABANDONMENT_DUE = IndexModel(
    [("wDueMs", ASCENDING)], name="abandonment_due",
    partialFilterExpression={"wDueMs": {"$type": "number"}, "userId": {"$type": "string"}})

INDEXES: dict[str, list[IndexModel]] = {
    "shops": [],
    "visitors": [IndexModel([("shopId", ASCENDING), ("userId", ASCENDING)])],
    "customers": [IndexModel([("shopId", ASCENDING), ("userId", ASCENDING)])],
    "sessions": [
        IndexModel([("shopId", ASCENDING), ("visitorId", ASCENDING), ("startedAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("userId", ASCENDING), ("startedAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("startedAt", DESCENDING)]),
    ],
    "events": [
        IndexModel([("shopId", ASCENDING), ("occurredAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("visitorId", ASCENDING), ("occurredAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("userId", ASCENDING), ("occurredAt", DESCENDING)]),
        # Anonymous events carry `expireAt`; filing one under a customer removes it.
        IndexModel([("expireAt", ASCENDING)], expireAfterSeconds=0, name="retention_ttl"),
    ],
    "carts": [IndexModel([("dueAt", ASCENDING)], sparse=True)],
    "orders": [
        IndexModel([("shopId", ASCENDING), ("userId", ASCENDING), ("completedAt", DESCENDING)])
    ],
    "interests": [
        IndexModel(
            [("shopId", ASCENDING), ("userId", ASCENDING), ("kind", ASCENDING),
             ("decayed", DESCENDING)]
        )
    ],
    "triggers": [
        IndexModel([("shopId", ASCENDING), ("sortKey", ASCENDING)]),
        IndexModel([("published", ASCENDING), ("firedAt", ASCENDING)]),
    ],
    # Trigger rules: one document per shop, read by `_id` (app/rule_store.py).
    "triggerRules": [],
    # Rule caps (app/caps.py): a claim that ran out means nothing, so MongoDB may drop it.
    "triggerCaps": [IndexModel([("until", ASCENDING)], expireAfterSeconds=0, name="caps_ttl"),
                    IndexModel([("shopId", ASCENDING), ("userId", ASCENDING)])],
}
# Abandoned browse and category view (app/abandonment.py): the sessions that fall due, on
# the visitor (its current session) and on closed sessions; only identified ones are indexed.
INDEXES["visitors"].append(ABANDONMENT_DUE)
INDEXES["sessions"].append(ABANDONMENT_DUE)
