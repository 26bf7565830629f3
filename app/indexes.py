"""Every collection and the indexes that serve its query shapes."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

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
        # Analytics: the top lists and the funnel read a few event types in a range.
        IndexModel([("shopId", ASCENDING), ("type", ASCENDING), ("occurredAt", ASCENDING)]),
        # Anonymous events carry `expireAt`; filing one under a customer removes it.
        IndexModel([("expireAt", ASCENDING)], expireAfterSeconds=0, name="retention_ttl"),
    ],
    "carts": [IndexModel([("dueAt", ASCENDING)], sparse=True)],
    "orders": [
        IndexModel([("shopId", ASCENDING), ("userId", ASCENDING), ("completedAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("completedAt", ASCENDING)]),  # analytics
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
        IndexModel([("shopId", ASCENDING), ("firedAt", ASCENDING)]),  # analytics
    ],
    # One document per shop (`_id` = shopId): its endpoints; `sync` reads the changed ones.
    "webhooks": [IndexModel([("updatedAt", ASCENDING)])],
    "webhook_deliveries": [
        IndexModel([("status", ASCENDING), ("nextAttemptAt", ASCENDING)]),  # the due ones
        IndexModel([("shopId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("endpointId", ASCENDING), ("createdAt", DESCENDING),
                    ("_id", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("status", ASCENDING), ("createdAt", DESCENDING),
                    ("_id", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("triggerId", ASCENDING)]),  # forgetCustomer
        # Delivered and failed ones carry `expireAt` (30 days on).
        IndexModel([("expireAt", ASCENDING)], expireAfterSeconds=0, name="webhook_log_ttl"),
    ],
}
