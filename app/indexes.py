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
        ),
        # Filling a new audience: who in the shop has at least this stored value for the
        # item, best first, paged by (decayed, _id) in index order.
        IndexModel([("shopId", ASCENDING), ("kind", ASCENDING), ("itemId", ASCENDING),
                    ("decayed", DESCENDING), ("_id", ASCENDING)]),
    ],
    # Audience memberships (app/audiences_members.py): exits by due time, members by audience,
    # a customer's memberships (forgetCustomer).
    "memberships": [
        IndexModel([("dueAt", ASCENDING)]),
        IndexModel([("shopId", ASCENDING), ("audienceId", ASCENDING), ("member", ASCENDING),
                    ("userId", ASCENDING)]),
        IndexModel([("shopId", ASCENDING), ("userId", ASCENDING)]),
    ],
    "audienceJobs": [IndexModel([("dueAt", ASCENDING)])],
    "triggers": [
        IndexModel([("shopId", ASCENDING), ("sortKey", ASCENDING)]),
        IndexModel([("published", ASCENDING), ("firedAt", ASCENDING)]),
        IndexModel([("shopId", ASCENDING), ("firedAt", ASCENDING)]),  # analytics
    ],
}
