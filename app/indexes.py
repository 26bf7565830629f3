"""Every collection and the indexes that serve its query shapes.

Each index below names the queries it serves (docs/scaling.md lists every query shape
with its index; tests/backends/test_query_shapes.py checks that list against the queries a run
of the product sends, and runs explain() on each against a real MongoDB). Pages sort
on (field, _id), so their indexes end in `_id`. Lookups by `_id` use the `_id` index.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

UP, DOWN = ASCENDING, DESCENDING

ABANDONMENT_DUE = IndexModel(
    [("wDueMs", ASCENDING)], name="abandonment_due",
    partialFilterExpression={"wDueMs": {"$type": "number"}, "userId": {"$type": "string"}})

INDEXES: dict[str, list[IndexModel]] = {
    "shops": [],  # by _id (= the shop id)
    "counters": [],  # {_id: "shopId", value}: the last automatic shop id
    "visitors": [
        IndexModel([("shopId", UP), ("userId", UP)]),  # forgetCustomer unlinks devices
    ],
    "customers": [
        IndexModel([("shopId", UP), ("_id", UP)]),  # the customers page
    ],
    "sessions": [  # the sessions pages (by visitor, by customer, whole shop), filing
        IndexModel([("shopId", UP), ("visitorId", UP), ("startedAt", DOWN), ("_id", DOWN)]),
        IndexModel([("shopId", UP), ("userId", UP), ("startedAt", DOWN), ("_id", DOWN)]),
        IndexModel([("shopId", UP), ("startedAt", DOWN), ("_id", DOWN)]),
    ],
    "events": [  # the events pages; filing a visitor's history; retention; re-stamp;
        # analytics (a range of a shop's events, of some types or all)
        IndexModel([("shopId", UP), ("occurredAt", DOWN), ("_id", DOWN)]),
        IndexModel([("shopId", UP), ("visitorId", UP), ("occurredAt", DOWN), ("_id", DOWN)]),
        IndexModel([("shopId", UP), ("userId", UP), ("occurredAt", DOWN), ("_id", DOWN)]),
        IndexModel([("shopId", UP), ("type", UP), ("occurredAt", DOWN), ("_id", DOWN)]),
        # Anonymous events carry `expireAt`; filing one under a customer removes it.
        IndexModel([("expireAt", UP)], expireAfterSeconds=0, name="retention_ttl"),
    ],
    "carts": [IndexModel([("dueAt", UP)], sparse=True)],  # the abandoned-cart worker
    "orders": [
        IndexModel([("shopId", UP), ("userId", UP), ("completedAt", DOWN)]),  # Customer.orders
        IndexModel([("shopId", UP), ("completedAt", UP)]),  # analytics: orders in a range
        IndexModel([("shopId", UP), ("orderId", UP), ("userId", UP)]),  # upsertOrders
    ],
    "interests": [
        IndexModel([("shopId", UP), ("userId", UP), ("kind", UP), ("decayed", DOWN)]),
        # Filling a new audience: who in the shop has at least this stored value for the
        # item, best first, paged by (decayed, _id) in index order.
        IndexModel([("shopId", UP), ("kind", UP), ("itemId", UP), ("decayed", DOWN), ("_id", UP)]),
    ],
    # Audience memberships (app/audiences/membership.py): exits by due time, members by audience,
    # a customer's memberships (forgetCustomer).
    "memberships": [
        IndexModel([("dueAt", ASCENDING)]),
        IndexModel([("shopId", ASCENDING), ("audienceId", ASCENDING), ("member", ASCENDING),
                    ("userId", ASCENDING)]),
        IndexModel([("shopId", ASCENDING), ("userId", ASCENDING)]),
    ],
    "audienceJobs": [IndexModel([("dueAt", ASCENDING)])],
    "triggers": [
        IndexModel([("shopId", UP), ("sortKey", UP)]),  # the log: pages, replay, catch-up
        IndexModel([("shopId", UP), ("type", UP), ("sortKey", UP)]),  # ... of some types
        IndexModel([("shopId", UP), ("name", UP), ("sortKey", UP)]),  # ... of some names
        IndexModel([("published", UP), ("firedAt", UP)]),  # the outbox sweeper
        IndexModel([("shopId", UP), ("visitorId", UP), ("firedAt", UP)]),  # filing
        IndexModel([("shopId", UP), ("userId", UP)]),  # forgetCustomer
        IndexModel([("shopId", UP), ("firedAt", UP)]),  # analytics: triggers in a range
        # An order's VIEW: the customer's latest delivered trigger (app/attribution/orders.py).
        IndexModel([("shopId", UP), ("userId", UP), ("firedAt", DOWN)]),
    ],
    # Section 12 (app/attribution/): the hourly rollups a report reads, by shop, kind, hour;
    # (rule, customer) exposures, by customer (an order converts them) and by the batch
    # that claimed them.
    "performance": [IndexModel([("shopId", UP), ("kind", UP), ("hour", UP)])],
    "exposures": [
        IndexModel([("shopId", UP), ("userId", UP), ("visitorId", UP)]),
        IndexModel([("shopId", UP), ("counted", UP)],
                   partialFilterExpression={"counted": {"$type": "string"}}),
        IndexModel([("shopId", UP), ("converted", UP)],
                   partialFilterExpression={"converted": {"$type": "string"}}),
    ],
    # Fan-out jobs of requests with many triggers (app/triggers/fanout.py): the open ones,
    # by the end of their lease (a new job's is its creation).
    "triggerFanouts": [IndexModel([("leaseUntil", UP)])],
    # Trigger rules: one document per shop, read by `_id` (app/triggers/rule_store.py).
    "triggerRules": [],
    # Rule caps (app/triggers/caps.py): a claim that ran out means nothing, so MongoDB may drop it.
    "triggerCaps": [IndexModel([("until", ASCENDING)], expireAfterSeconds=0, name="caps_ttl"),
                    IndexModel([("shopId", ASCENDING), ("userId", ASCENDING)])],
    # The catalog (app/catalog/): products by id (`_id` = "<shop>:<product>"), a shop's
    # products page (all, or of a category), and the fan-out worker's due jobs.
    "products": [
        IndexModel([("shopId", UP), ("_id", UP)]),
        IndexModel([("shopId", UP), ("categoryId", UP), ("_id", UP)]),
        IndexModel([("pendingAt", UP)], sparse=True),
    ],
    # notifyInStock requests: a product's open ones, in `_id` order (the fan-out's pages).
    "stockRequests": [
        IndexModel([("shopId", UP), ("productId", UP), ("open", UP), ("_id", UP)]),
        IndexModel([("shopId", UP), ("userId", UP)]),  # forgetCustomer
    ],
    # One document per shop (`_id` = shopId): its endpoints; `sync` reads the changed ones.
    "webhooks": [IndexModel([("updatedAt", UP)])],
    "webhook_deliveries": [
        IndexModel([("status", UP), ("nextAttemptAt", UP)]),  # the due ones
        IndexModel([("shopId", UP), ("createdAt", DOWN), ("_id", DOWN)]),
        IndexModel([("shopId", UP), ("endpointId", UP), ("createdAt", DOWN),
                    ("_id", DOWN)]),
        IndexModel([("shopId", UP), ("status", UP), ("createdAt", DOWN),
                    ("_id", DOWN)]),
        IndexModel([("shopId", UP), ("triggerId", UP)]),  # forgetCustomer
        # Delivered and failed ones carry `expireAt` (30 days on).
        IndexModel([("expireAt", UP)], expireAfterSeconds=0, name="webhook_log_ttl"),
    ],
}
# Abandoned browse and category view (app/abandonment/watch.py): the sessions that fall due, on
# the visitor (its current session) and on closed sessions; only identified ones are indexed.
INDEXES["visitors"].append(ABANDONMENT_DUE)
INDEXES["sessions"].append(ABANDONMENT_DUE)

# Facts the performance rollups have not counted yet, and the batch folding them
# (app/attribution/rollups.py): both partial, so they hold only what is pending.
for _facts in ("triggers", "sessions", "orders"):
    INDEXES[_facts] += [
        IndexModel([("rolled", UP), ("shopId", UP)], name="rollups_pending",
                   partialFilterExpression={"rolled": False}),
        IndexModel([("shopId", UP), ("foldBatch", UP)], name="rollups_batch",
                   partialFilterExpression={"foldBatch": {"$type": "string"}}),
    ]
# Co-occurrence and popularity (app/recommendations/pairs.py): a product's pairs are read
# by `_id`; POPULAR reads the most viewed of a shop (or of a category) in index order.
INDEXES["cooccurrence"] = [
    IndexModel([("shopId", UP), ("kind", UP), ("views", DOWN), ("_id", UP)]),
    IndexModel([("shopId", UP), ("kind", UP), ("categoryId", UP), ("views", DOWN), ("_id", UP)]),
]
# Product views not yet folded into co-occurrence (app/recommendations/fold.py), oldest
# first; only those carry `coAt`.
INDEXES["events"].append(IndexModel(
    [("coAt", UP), ("_id", UP)], name="cooccurrence_due",
    partialFilterExpression={"coAt": {"$type": "date"}}))
# Traffic rollups (app/analytics/rollups.py): events not yet counted (`rolled`), filed under
# a customer and not yet counted as identified (`idRolled`), and the batch folding each;
# the counters a report reads by shop, kind and start (top lists: a range of days);
# presences, by shop and start (a rebuild's range), kept SEEN_DAYS.
INDEXES["events"] += [
    IndexModel([("rolled", UP), ("shopId", UP)], name="rollups_pending",
               partialFilterExpression={"rolled": False}),
    IndexModel([("shopId", UP), ("foldBatch", UP)], name="rollups_batch",
               partialFilterExpression={"foldBatch": {"$type": "string"}}),
    IndexModel([("idRolled", UP), ("shopId", UP)], name="rollups_filed",
               partialFilterExpression={"idRolled": False}),
    IndexModel([("shopId", UP), ("idBatch", UP)], name="rollups_filed_batch",
               partialFilterExpression={"idBatch": {"$type": "string"}}),
]
INDEXES["rollups"] = [
    IndexModel([("shopId", UP), ("kind", UP), ("at", UP)]),
    # Busy hours and days (64 visitors or more: app/analytics/reports.py DENSE_FROM), by kind
    # and start: the closing worker's search, every shop, for those lacking a dense sketch
    # (app/analytics/closing.py). A bucket joins once, when its count reaches the threshold.
    IndexModel([("kind", UP), ("at", UP)], name="rollups_busy",
               partialFilterExpression={"n.visitors": {"$gte": 64}}),
]
INDEXES["rollupSeen"] = [
    IndexModel([("shopId", UP), ("at", UP)]),
    IndexModel([("expireAt", UP)], expireAfterSeconds=0, name="rollup_seen_ttl"),
]
# Rebuild leases (app/analytics/leases.py): one document per shop being rebuilt, by `_id`;
# a fold of every shop asks for the live ones.
INDEXES["rollupRebuilds"] = [IndexModel([("until", UP)])]

# How a sharded cluster splits each collection (README "Scaling", docs/scaling.md).
# Every document's `_id` starts with its shop and every single-document filter names
# `shopId` and `_id`, so each write goes to one shard and `_id` stays unique.
SHARD_KEY = {"shopId": 1, "_id": 1}
# One small document per shop, one counter, and a lease per shop being rebuilt.
UNSHARDED = ("shops", "counters", "rollupRebuilds")


def shard_keys() -> dict[str, dict[str, int]]:
    """The shard key of every sharded collection."""
    return {name: SHARD_KEY for name in INDEXES if name not in UNSHARDED}
