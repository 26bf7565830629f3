"""Shard-ready filters, and an index for every query shape (issue 11, points 4 and 5).

One run of the product (every tracker event, every read, every admin operation and
every worker, over real HTTP) is recorded through the storage layer
(tests/support/query_shapes.py). Then:

- every single-document operation on a sharded collection names `shopId` and `_id`
  (so a cluster sharded on {shopId: 1, _id: 1} routes it to one shard), and every
  other query names the shop, but the scatter-gathers the README lists;
- every shape is served by an index of app/indexes.py (no scan, no in-memory sort),
  but the scans the README lists;
- with TRACKER_TEST_MONGODB_URL, explain() of every recorded query on that MongoDB
  shows no COLLSCAN and no SORT stage.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest

from app import analytics, catalog
from app.abandonment import cart_worker as abandoned
from app.abandonment.browse_worker import fire_due_sessions
from app.attribution import fold
from app.audiences import worker as audiences_worker
from app.backends import folds
from app.identity import retention
from app.indexes import INDEXES, UNSHARDED
from app.platform import Platform
from app.recommendations import fold_all
from app.triggers import fanout
from app.webhooks.sender import Sender
from tests.support.api import Api
from tests.support.query_shapes import (
    MULTI,
    SINGLE,
    Call,
    explain_command,
    plan_problems,
    record,
    served_by,
)
from tests.support.webhook_receiver import Receiver

# The queries that read every shop, by design (README "Scaling"): workers' due-time
# scans, and retention. Each is served by an index all the same.
SCATTER_GATHER = {
    "carts.find(dueAt~) sort dueAt+",  # the abandoned-cart worker
    "triggers.find(firedAt~, published=) sort firedAt+",  # the outbox sweeper
    # retention, every shop (only events the traffic rollups counted and the
    # co-occurrence fold read)
    "events.delete_many($or[occurredAt~, shopId in], coAt!, rolled!, userId=)",
    # ... whose first step moves aside the expiry older versions stamped on events a fold
    # had still to read (app/identity/retention.py)
    "events.update_many(expireAt!, rolled=)",
    "events.update_many(coAt~, expireAt!)",
    "visitors.find(userId!, wDueMs~) sort wDueMs+",  # abandoned sessions: current ones
    "sessions.find(userId!, wDueMs~) sort wDueMs+",  # ... and closed ones
    "webhooks.find(updatedAt~)",  # every process syncs the endpoints changed lately
    # the webhook sender's search for due deliveries no process remembers
    "webhook_deliveries.find(leaseUntil~, nextAttemptAt~, status=) sort nextAttemptAt+",
    "memberships.find(dueAt~) sort dueAt+",  # the audience worker: exits due
    "audienceJobs.find(dueAt~) sort dueAt+",  # ... and audiences to fill
    "products.find(pendingAt~) sort pendingAt+",  # the catalog's fan-out: changes due
    "triggerFanouts.find(leaseUntil~) sort leaseUntil+",  # fan-out jobs (issue 22, item 6)
    # the performance rollups' worker: facts not yet counted (app/attribution/rollups.py)
    "triggers.find(rolled=)", "sessions.find(rolled=)", "orders.find(rolled=)",
    # ... and the traffic rollups' worker: events not yet counted, filed ones
    # (app/analytics/rollups.py)
    "events.find(rolled=)", "events.find(idRolled=)",
    "events.find(coAt~) sort coAt+,_id+",  # the co-occurrence fold: views not yet folded
    # the closing worker: busy hours and days closed lately (app/analytics/closing.py)
    "rollups.find(at~, dense!, kind=, n.visitors~)",
}
# Scans of the small `shops` collection (one document per shop), by design.
SCANS = {"shops.find()", "shops.find(settings.catalogFeedUrl!)"}  # (the feed poller)

TRACK = """mutation($e: [TrackInput!]!) { track(events: $e) { eventId userId } }"""
PAGE = "nodes { %s } pageInfo { endCursor hasNextPage }"
ANALYTICS = """query($from: DateTime!, $to: DateTime!) {
  stats(shopId: 1, from: $from, to: $to, interval: HOUR) { totals { visitors sessions } }
  topProducts(shopId: 1, from: $from, to: $to) { productId }
  topCategories(shopId: 1, from: $from, to: $to) { categoryId }
  funnel(shopId: 1, from: $from, to: $to) { sessions withCheckout } }"""
REPORTS = """query($from: DateTime!, $to: DateTime!) {
  triggerPerformance(shopId: 1, from: $from, to: $to) { ruleId orders lift }
  channels(shopId: 1, from: $from, to: $to) { channel visitors }
  customer(shopId: 1, userId: "u1") { firstTouch { channel } lastTouch { channel } } }"""


def ev(n: int, type_: str, visitor: str, **fields: Any) -> dict[str, Any]:
    if "productId" in fields and type_ != "CART_REMOVE":
        fields.setdefault("categoryId", "c")
    return {"type": type_, "context": {"shopId": 1, "visitorId": visitor, "eventId": f"q{n}",
                                       "url": "https://shop.example/"}, **fields}


async def run_the_product(api: Api, platform: Platform, key: str) -> None:
    """Every door into storage, once: tracking, reading, administration, workers."""
    admin = api.admin
    await admin('mutation { createShop(name: "Second") { shop { shopId } } }')
    await admin('mutation { addEventSource(shopId: 1, sourceId: "app", name: "App") '
                '{ shopId } }')
    await admin('mutation { addEventSource(shopId: 1, sourceId: "app", name: "App 2", '
                'makeDefault: true) { shopId } }')
    await admin('mutation { updateShopSettings(shopId: 1, settings: {anonymousHistoryDays: 30, '
                'abandonedCartDelaySeconds: 60}) { shopId } }')
    token = (await admin('mutation { issueIdentityToken(shopId: 1, userId: "u2") }')
             )["issueIdentityToken"]
    await rules_everything(api)
    receiver = await webhooks_before(api, platform)
    following = await audience(api, "p3")  # before the events: u1 enters as it views p3
    batches = [
        [ev(1, "VISIT", "v1"), ev(2, "CATEGORY_VIEW", "v1", categoryId="c"),
         ev(3, "PRODUCT_VIEW", "v1", productId="p"),
         ev(4, "SECTION_VIEW", "v1", pageName="sale"), ev(5, "CART_ADD", "v1", productId="p",
                                                          quantity=2),
         ev(6, "CART_REMOVE", "v1", productId="p"), ev(7, "CART_ADD", "v1", productId="p2"),
         ev(8, "CUSTOM", "v1", eventName="quiz", properties={"a": 1}),
         ev(9, "CHECKOUT", "v1", orderId="o-anon")],
        [ev(10, "LOGIN", "v1", userId="u1"), ev(11, "PRODUCT_VIEW", "v1", productId="p3"),
         ev(12, "CART_ADD", "v1", productId="p3"), ev(13, "CHECKOUT", "v1", orderId="o1"),
         ev(14, "CART_ADD", "v1", productId="p4"), ev(15, "CART_CLEAR", "v1")],
        [ev(16, "CART_ADD", "v2", productId="p5"), ev(17, "REGISTRATION", "v2", userId="u1")],
        [ev(18, "PRODUCT_VIEW", "v3", productId="p")],
        [ev(19, "CART_ADD", "v3", productId="p6")],
        [ev(20, "LOGIN", "v5", userId="u3"), ev(21, "PRODUCT_VIEW", "v5", productId="p7")],
    ]
    batches[3][0]["context"]["identityToken"] = token
    for batch in batches:
        await api.data(TRACK, {"e": batch})
    await api.data(TRACK, {"e": batches[0][:2]})  # a resend: duplicates
    await admin('mutation { importEvents(shopId: 1, events: [{type: VISIT, context: '
                '{shopId: 1, visitorId: "v4", eventId: "imp"}}]) { eventId } }')
    await fold_all(platform)  # the co-occurrence worker
    await read_everything(api, key)
    await api.data(ANALYTICS, {"from": "2026-02-28T00:00:00+00:00",
                               "to": "2026-03-02T00:00:00+00:00"}, key=key)
    # python -m app rebuild-stats (app/analytics/rebuild.py), its lease and its steps
    await analytics.rebuild(platform.storage, 1, datetime(2026, 2, 28, tzinfo=UTC),
                            datetime(2026, 3, 2, tzinfo=UTC), platform.clock, grace=0)
    await section_12(api, platform, key)
    await analytics.keep_dense(platform.storage, platform.clock.now())  # the closing worker
    platform.clock.advance(seconds=3600)
    await abandoned.fire_due(platform)
    await fire_due_sessions(platform)
    await platform.outbox.flush_published()
    platform.clock.advance(seconds=10)
    await platform.outbox.sweep()
    triggers = await api.data("{ triggers(shopId: 1, first: 1) { %s } }"
                              % (PAGE % "triggerId"), key=key)
    first = triggers["triggers"]["nodes"][0]["triggerId"]
    await platform.feed.after(1, first)
    await retention.expire_anonymous(platform)
    await fan_out_as_a_job(api, platform)
    await webhooks_after(api, platform, receiver)
    await audiences_everything(api, platform, following)
    await catalog_everything(api, platform)
    await admin('mutation { forgetCustomer(shopId: 1, userId: "u2") }')


async def catalog_everything(api: Api, platform: Platform) -> None:
    """The catalog: products upserted, a drop and a restock fanned out (a notifyInStock
    request answered), read and paged, the feed poller's look, deleted."""
    admin = api.admin
    for type_ in ("PRICE_DROPPED", "BACK_IN_STOCK"):
        await admin('mutation($t: TriggerType!) { createTriggerRule(shopId: 1, rule: {type: $t}) '
                    '{ ruleId } }', {"t": type_})
    upsert = ('mutation($p: [ProductInput!]!) { upsertProducts(shopId: 1, products: $p) '
              '{ updated } }')
    await admin(upsert, {"p": [{"productId": "p", "price": 10, "available": False,
                                "categoryId": "c"}, {"productId": "p3", "price": 5}]})
    await api.data(TRACK, {"e": [ev(40, "STOCK_NOTIFY", "v5", productId="p")]})
    await admin(upsert, {"p": [{"productId": "p", "price": 8, "available": True},
                               {"productId": "p3", "price": 4}]})
    await catalog.tick(platform)
    await admin('{ product(shopId: 1, productId: "p") { name } '
                'productPriceHistory(shopId: 1, productId: "p") { price } '
                'interestedCustomers(shopId: 1, productId: "p3") { userId } }')
    listing = ("query($c: String, $a: String) { products(shopId: 1, categoryId: $c, first: 1, "
               "after: $a) { " + PAGE % "productId" + " } }")
    for category in (None, "c"):
        page = (await admin(listing, {"c": category}))["products"]
        await admin(listing, {"c": category, "a": page["pageInfo"]["endCursor"]})
    await admin('mutation { updateShopSettings(shopId: 1, settings: '
                '{catalogFeedUrl: "http://127.0.0.1:9/feed.yml"}) { shopId } }')
    await catalog.poll(platform)  # refused (a private address), and noted
    await admin('mutation { deleteProducts(shopId: 1, productIds: ["p3"]) }')
async def fan_out_as_a_job(api: Api, platform: Platform) -> None:
    """A request past the fan-out bound: its triggers made by a job (app/triggers/fanout.py)."""
    bound, fanout.INLINE_TRIGGERS = fanout.INLINE_TRIGGERS, 0
    try:
        await api.data(TRACK, {"e": [ev(22, "CUSTOM", "v6", eventName="quiz")]})
    finally:
        fanout.INLINE_TRIGGERS = bound
    assert await platform.fanout.tick() == 1


async def section_12(api: Api, platform: Platform, key: str) -> None:
    """Orders from the shop (new, and the checkout's in place), a landing through a trigger
    link, the reports (which fold), and the rollup worker."""
    orders = [{"orderId": "o1", "userId": "u1", "status": "PAID",
               "items": [{"productId": "p3", "quantity": 1, "price": 5}]},
              {"orderId": "crm-9", "userId": "u3", "items": [{"productId": "p7", "quantity": 2}]}]
    await api.data("mutation($o: [OrderInput!]!) { upsertOrders(shopId: 1, orders: $o) }",
                   {"o": orders}, key=key)
    tid = (await api.data("{ triggers(shopId: 1, first: 1) { nodes { link } } }", key=key)
           )["triggers"]["nodes"][0]["link"]
    landing = ev(30, "VISIT", "v6")
    landing["context"]["url"] = f"https://shop.example/?{tid}"
    await api.data(TRACK, {"e": [landing]})
    page, folds.PAGE = folds.PAGE, 1  # the workers with a backlog: every page is full, and
    try:  # the claims past it are looked up
        await analytics.fold(platform.storage, platform.clock.now())
        await fold(platform.storage, platform.clock.now())
    finally:
        folds.PAGE = page
    await api.data(TRACK, {"e": [ev(31, "VISIT", "v6")]})  # and one left for the reports
    await api.data(REPORTS, {"from": "2026-02-28T00:00:00+00:00",
                             "to": "2026-03-02T00:00:00+00:00"}, key=key)
    await fold(platform.storage, platform.clock.now())


async def webhooks_before(api: Api, platform: Platform) -> Receiver:
    """An endpoint (at a receiver of this test) for the triggers the run fires."""
    receiver = Receiver()
    await receiver.__aenter__()
    platform.webhooks.settings = platform.settings.with_(webhook_allow_private=True)
    added = await api.admin('mutation($u: String!) { addWebhookEndpoint(shopId: 1, url: $u) '
                            '{ secret endpoint { endpointId } } }', {"u": receiver.url("h")})
    receiver.expect("h", added["addWebhookEndpoint"]["secret"], [500, 200])
    return receiver


async def webhooks_after(api: Api, platform: Platform, receiver: Receiver) -> None:
    """The sender attempts (one fails, is retried), the log is paged, replay, rotation."""
    settings = platform.settings.with_(webhook_allow_private=True, webhook_schedule="0")
    sender = Sender(platform.storage, platform.clock, settings, platform.webhooks)
    sender.open()
    try:
        for _ in range(2):
            await sender.tick(search=True)
            await sender.settle()
    finally:
        await sender.stop()
        await receiver.__aexit__(None, None, None)
    [endpoint] = (await api.admin("{ webhookEndpoints(shopId: 1) { endpointId } }")
                  )["webhookEndpoints"]
    variables = {"e": endpoint["endpointId"]}
    log = ("query($e: ID, $st: [DeliveryStatus!], $a: String) { webhookDeliveries(shopId: 1, "
           "endpointId: $e, status: $st, first: 1, after: $a) { %s } }" % (PAGE % "deliveryId"))
    for filters in ({}, variables, {"st": ["DELIVERED"]}):
        page = (await api.admin(log, filters))["webhookDeliveries"]
        await api.admin(log, {**filters, "a": page["pageInfo"]["endCursor"]})
    await api.admin("mutation($e: ID!) { redeliverWebhooks(shopId: 1, endpointId: $e) }",
                    variables)
    await api.admin("mutation($e: ID!) { rotateWebhookSecret(shopId: 1, endpointId: $e) "
                    "{ secret } }", variables)
    await api.admin("mutation($e: ID!) { updateWebhookEndpoint(shopId: 1, endpointId: $e, "
                    "names: [\"sale\"]) { endpointId } }", variables)
    platform.clock.advance(seconds=60)
    await platform.webhooks.sync()


async def audience(api: Api, product: str) -> str:
    created = await api.admin('mutation($p: String!) { createAudience(shopId: 1, audience: '
                              '{title: "Fans", productId: $p, minScore: 0.5}) { audienceId } }',
                              {"p": product})
    return str(created["createAudience"]["audienceId"])


async def audiences_everything(api: Api, platform: Platform, following: str) -> None:
    """Audiences: filled, listed, paged, rescheduled, left by decay, deleted."""
    filled = await audience(api, "p")
    await audiences_worker.run_jobs(platform)  # fills the new one
    await api.admin("{ audiences(shopId: 1) { audienceId size } }")
    for audience_id in (following, filled):
        page = (await api.admin('query($id: ID!) { audienceMembers(shopId: 1, audienceId: $id, '
                                'first: 1) { %s } }' % (PAGE % "userId"), {"id": audience_id})
                )["audienceMembers"]
        await api.admin('query($id: ID!, $after: String) { audienceMembers(shopId: 1, '
                        'audienceId: $id, first: 1, after: $after) { nodes { userId } } }',
                        {"id": audience_id, "after": page["pageInfo"]["endCursor"]})
    await api.admin("mutation { updateShopSettings(shopId: 1, settings: "
                    "{interestHalfLifeSeconds: 86400}) { shopId } }")
    await audiences_worker.tick(platform)  # exits computed again in the new frame
    platform.clock.advance(days=30)
    await audiences_worker.tick(platform)  # and fired
    await api.admin('mutation($id: ID!) { deleteAudience(shopId: 1, audienceId: $id) }',
                    {"id": filled})


async def rules_everything(api: Api) -> None:
    """Trigger rules: listed, created, changed, deleted; a capped one fires below."""
    await api.admin("{ triggerRules(shopId: 1) { ruleId } }")
    created = await api.admin('mutation { createTriggerRule(shopId: 1, rule: {type: '
                              'CUSTOM_EVENT, match: ["quiz"], capSeconds: 60}) { ruleId } }')
    rule = created["createTriggerRule"]["ruleId"]
    await api.admin('mutation($id: ID!) { updateTriggerRule(shopId: 1, ruleId: $id, rule: '
                    '{type: CUSTOM_EVENT, title: "Quiz"}) { ruleId } }', {"id": rule})
    await api.admin('mutation { updateTriggerRule(shopId: 1, ruleId: "default:ABANDONED_BROWSE",'
                    ' rule: {type: ABANDONED_BROWSE, delaySeconds: 60}) { ruleId } }')
    await api.admin('mutation { deleteTriggerRule(shopId: 1, ruleId: '
                    '"default:ABANDONED_CATEGORY") }')


async def read_everything(api: Api, key: str) -> None:
    """Every page first and after its cursor, with every filter."""
    pages = {
        "events": ("eventId", ["", "userId: \"u1\"", "visitorId: \"v1\"",
                               "userId: \"u1\", visitorId: \"v1\"", "types: [CART_ADD]"]),
        "sessions": ("sessionId", ["", "userId: \"u1\"", "visitorId: \"v1\""]),
        "customers": ("userId", [""]),
        "triggers": ("triggerId", ["", "types: [CUSTOM_EVENT]"]),
    }
    for name, (node, filters) in pages.items():
        for args in filters:
            query = "{ %s(shopId: 1, first: 1 %s %s) { %s } }"
            page = (await api.data(query % (name, "," if args else "", args, PAGE % node),
                                   key=key))[name]
            cursor = page["pageInfo"]["endCursor"]
            after = f'{args}, after: "{cursor}"' if args else f'after: "{cursor}"'
            await api.data(query % (name, ",", after, PAGE % node), key=key)
    await api.data('{ shop(shopId: 1) { name } visitor(shopId: 1, visitorId: "v1") '
                   '{ visitorId } cart(shopId: 1, visitorId: "v3") { status } '
                   'customer(shopId: 1, userId: "u1") { userId lastSeenAt cart { status } '
                   'orders { orderId } interestMap { products { productId } } } '
                   'interestMap(shopId: 1, userId: "u1") { categories { categoryId } } }',
                   key=key)
    await api.data('{ a: recommendations(shopId: 1, strategy: ALSO_VIEWED, productId: "p") '
                    '{ productId } b: recommendations(shopId: 1, strategy: ALSO_BOUGHT, '
                    'productId: "p3") { productId } c: recommendations(shopId: 1, strategy: '
                    'FOR_YOU, userId: "u1") { productId } d: recommendations(shopId: 1, '
                    'strategy: FOR_YOU, visitorId: "v3") { productId } e: recommendations('
                    'shopId: 1, strategy: POPULAR, categoryId: "c") { productId } }', key=key)
    await api.http.get("/recommendations", params={"shopId": 1, "strategy": "POPULAR"})


@pytest.fixture
async def recorded(api: Api, platform: Platform, shop: dict[str, Any]) -> list[Call]:
    calls = record(platform.storage)
    await run_the_product(api, platform, shop["key"])
    return calls


def by_shape(calls: list[Call]) -> dict[str, Call]:
    return {c.shape: c for c in calls if c.method in SINGLE | MULTI}


async def test_every_single_document_write_and_query_names_the_shop(
        recorded: list[Call]) -> None:
    sharded = [c for c in recorded if c.collection not in UNSHARDED]
    assert {c.collection for c in sharded} >= set(INDEXES) - set(UNSHARDED)  # all were used
    unroutable = sorted({c.shape for c in sharded if c.method in SINGLE | {"update_one"}
                         and not ({"shopId", "_id"} <= set(c.filter))})
    assert not unroutable, unroutable
    scatter = sorted({c.shape for c in sharded if c.method in MULTI
                      and "shopId" not in c.filter} - SCATTER_GATHER)
    assert not scatter, scatter


async def test_every_query_shape_has_an_index(recorded: list[Call]) -> None:
    shapes = by_shape(recorded)
    assert len(shapes) > 40, sorted(shapes)  # the run reached every door
    unserved = sorted(shape for shape, call in shapes.items()
                      if shape not in SCANS and not served_by(call, INDEXES[call.collection]))
    assert not unserved, unserved


@pytest.mark.skipif(not os.environ.get("TRACKER_TEST_MONGODB_URL"),
                    reason="explain() needs a real MongoDB (TRACKER_TEST_MONGODB_URL)")
async def test_explain_shows_no_scan_and_no_sort_on_a_real_mongodb(
        recorded: list[Call], platform: Platform) -> None:
    assert platform.storage.real_mongodb
    problems = []
    for shape, call in sorted(by_shape(recorded).items()):
        if shape in SCANS:
            continue
        explained = await platform.storage.db.command(
            {"explain": explain_command(call), "verbosity": "queryPlanner"})
        found = plan_problems(explained)
        if found:
            problems.append(f"{shape}: {found}")
    assert not problems, "\n".join(problems)


def test_the_plan_check_finds_scans_and_sorts_in_every_plan_layout() -> None:
    """The explain() reader above, on the layouts MongoDB answers with (it must be able
    to fail where no real MongoDB is at hand)."""
    index = {"stage": "FETCH", "inputStage": {"stage": "IXSCAN", "indexName": "x"}}
    scan = {"stage": "COLLSCAN"}
    in_memory = {"stage": "SORT", "inputStage": index}
    assert plan_problems({"queryPlanner": {"winningPlan": index}}) == []
    assert plan_problems({"queryPlanner": {"winningPlan": scan,
                                           "rejectedPlans": [in_memory]}}) == ["COLLSCAN"]
    assert plan_problems({"queryPlanner": {"winningPlan": {"queryPlan": in_memory}}}) == ["SORT"]
    merged = {"stage": "SORT_MERGE", "inputStages": [index, index]}
    assert plan_problems({"queryPlanner": {"winningPlan": merged}}) == []
    sharded = {"stage": "SHARD_MERGE", "shards": [{"winningPlan": index},
                                                   {"winningPlan": scan}]}
    assert plan_problems({"queryPlanner": {"winningPlan": sharded}}) == ["COLLSCAN"]


def test_a_shape_without_its_index_is_found() -> None:
    """The offline check: a page sort the index cannot give, a filter it leaves unbound."""
    page = Call("events", "find", {"shopId": 1, "userId": "u"}, [("occurredAt", -1), ("_id", -1)])
    assert served_by(page, INDEXES["events"]) == "shopId_1_userId_1_occurredAt_-1__id_-1"
    assert served_by(page, INDEXES["events"][:1]) is None  # shopId, occurredAt, _id only
    unsorted = Call("events", "find", {"shopId": 1}, [("receivedAt", -1)])
    assert served_by(unsorted, INDEXES["events"]) is None
    wide = Call("triggers", "delete_many", {"shopId": 1, "userId": "u"})
    assert served_by(wide, INDEXES["triggers"][:2]) is None  # would scan the whole shop
