"""The fan-out worker: a recorded price drop or restock becomes one trigger per customer.

A change is recorded in its product's document (`pending`, with `pendingAt`) by
the write that makes it (app/catalog/store.py); the upsert answers without
waiting. Every server process runs `tick`: it reads products whose `pendingAt`
is due through the index on `pendingAt`, claims one with a conditional write
(`pendingAt` as read -> now + LEASE, and a lease token), and walks the
customers the change concerns in pages of PAGE, through indexes:

  phase 0  the product's interests (`interests` by shopId, kind, itemId, decayed, _id),
  phase 1  open notifyInStock requests (BACK_IN_STOCK only; `stockRequests`).

The pages of a phase are read from one cursor, which the process keeps between
runs while the walk's saved place is where it stopped (app/catalog/walks.py): one
index seek per walk, not one per run (on the embedded store, one scan). Each page
costs a constant number of round trips, whatever its size: its triggers
(app/catalog/recipients.py) pass the rules' caps in one bulk write
(app/triggers/caps.py) and are stored by the outbox in one `insert_many`
(duplicates = already stored), which also queues their webhooks in one insert; then
the page's place (`after`) is saved under the lease. A
crash resumes from the last saved page once the lease runs out; the triggers
of a page walked twice are duplicates of the same ids and are not stored again.
A worker that lost its lease (its save matched nothing) stops. After PAGES
pages a job goes back in the queue (`pendingAt` = now), so one large fan-out
does not hold back other shops' jobs; walking yields to the event loop between
pages, so tracking goes on.

A customer whose interest rises while the walk is on moves ahead of the
cursor and may be passed over: they just saw the product at its new price.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from app.catalog.products import PRICE_DROP
from app.catalog.recipients import TYPE_OF, asked, interested, rules_for, trigger
from app.catalog.stock import answered_by, owners_of, requests_after
from app.catalog.walks import Walks
from app.interests import PRODUCT
from app.triggers import caps

PAGE = 1000  # customers read per round trip
PAGES = 20  # per job and tick; then the job waits behind the others
JOBS = 10  # jobs claimed per tick
LEASE = timedelta(seconds=30)
INTERESTS, REQUESTS = 0, 1
# What the server's workers hand in: (platform, triggers) -> the same triggers, added to.
Attach = Callable[[Any, list[dict[str, Any]]], Awaitable[list[dict[str, Any]]]]


async def tick(platform: Any, attach: Attach | None = None) -> int:
    """One run: claim due jobs and walk them; returns the triggers stored.

    `attach` adds to each trigger what a higher package knows (the recommendations a
    trigger carries), handed in by the server's workers: the catalog sits below them.
    """
    now = platform.clock.now()
    due = await platform.storage.products.find(
        {"pendingAt": {"$lte": now}}, {"pendingAt": 1, "shopId": 1}
    ).sort("pendingAt", 1).limit(JOBS).to_list(JOBS)
    fired = 0
    for doc in due:
        fired += await run(platform, doc, attach)
    return fired


async def run(platform: Any, seen: dict[str, Any], attach: Attach | None = None) -> int:
    """Claim one product's pending changes and walk them, PAGES pages at most."""
    products, clock = platform.storage.products, platform.clock
    token = secrets.token_hex(8)
    mine = {"_id": seen["_id"], "shopId": seen["shopId"]}
    claimed = await products.update_one(
        {**mine, "pendingAt": seen["pendingAt"]},
        {"$set": {"pendingAt": clock.now() + LEASE, "lease": token}})
    if not claimed.matched_count:
        return 0  # another process has it
    mine["lease"] = token
    fired, pages = 0, 0
    while pages < PAGES:
        doc = await products.find_one(mine, {"history": 0})
        if doc is None:
            return fired  # lost the lease, or the product was deleted
        if not doc.get("pending"):
            await _release(platform, mine, done=True)
            return fired
        stored, walked, finished = await _walk(platform, doc, mine, PAGES - pages, attach)
        fired, pages = fired + stored, pages + walked
        if finished is None:
            return fired  # lost the lease
        if finished:
            await products.update_one(mine, {"$pull": {"pending": {
                "changeId": doc["pending"][0]["changeId"]}}})
    await _release(platform, mine, done=False)
    return fired


async def _release(platform: Any, mine: dict[str, Any], done: bool) -> None:
    products, now = platform.storage.products, platform.clock.now()
    if done:
        ended = await products.update_one({**mine, "pending": {"$size": 0}},
                                          {"$unset": {"pendingAt": "", "lease": ""}})
        if ended.matched_count:
            return
    # More to do (or a change arrived meanwhile): back in the queue, behind older jobs.
    await products.update_one(mine, {"$set": {"pendingAt": now}, "$unset": {"lease": ""}})


async def _walk(platform: Any, doc: dict[str, Any], mine: dict[str, Any],
                budget: int, attach: Attach | None) -> tuple[int, int, bool | None]:
    """Walk the first pending change: (triggers stored, pages walked, finished?);
    finished is None when the lease was lost."""
    change = doc["pending"][0]
    shop = await platform.shops.get(doc["shopId"])
    rules = [] if shop is None else rules_for(
        change, doc, (await platform.rules.ruleset(shop)).enabled(
            TYPE_OF[change["kind"]]))
    if not rules:
        return 0, 0, True
    phase, after = change.get("phase") or INTERESTS, change.get("after")
    walks: Walks = platform.catalog.walks
    stored = walked = 0
    while walked < budget:
        # Read on from this process's cursor of the walk if it stopped where the saved
        # place says; else open one there (app/catalog/walks.py).
        walk = (doc["_id"], change["changeId"], phase)
        cursor = await walks.take(walk, after) or _open(platform, shop.shop_id,
                                                         doc["productId"], phase, after)
        page = await cursor.to_list(PAGE)
        if phase == INTERESTS:
            fresh, after = await _interest_page(platform, shop, doc, change, rules, page,
                                                after, attach)
        else:
            fresh, after = await _request_page(platform, shop, doc, change, rules, page,
                                               after, attach)
        stored, walked = stored + fresh, walked + 1
        if len(page) < PAGE:  # the phase's last page
            await cursor.close()
            if phase == REQUESTS or change["kind"] == PRICE_DROP:
                return stored, walked, True
            phase, after, cursor = REQUESTS, None, None
        saved = await platform.storage.products.update_one(
            {**mine, "pending.changeId": change["changeId"]},
            {"$set": {"pending.$.phase": phase, "pending.$.after": after,
                      "pendingAt": platform.clock.now() + LEASE}})
        if not saved.matched_count:
            if cursor is not None:
                await cursor.close()
            return stored, walked, None
        if cursor is not None:
            await walks.keep(walk, after, cursor)
        await asyncio.sleep(0)  # let tracking requests in between pages
    return stored, walked, False


def _open(platform: Any, shop_id: int, product_id: str, phase: int, after: Any) -> Any:
    """A cursor over the phase's customers after `after`, read a page at a time; a scan
    on the embedded store, so off its event loop."""
    if phase == INTERESTS:
        return _interests(platform, shop_id, product_id, after).off_loop()
    return requests_after(platform.storage, shop_id, product_id, after).off_loop()


def _interests(platform: Any, shop_id: int, product_id: str, after: Any) -> Any:
    """The product's interests after `after`, in the index's order (decayed, _id)."""
    query: dict[str, Any] = {"shopId": shop_id, "kind": PRODUCT, "itemId": product_id}
    if after:
        query["$or"] = [{"decayed": {"$lt": after[0]}},
                        {"decayed": after[0], "_id": {"$gt": after[1]}}]
    return platform.storage.interests.find(query).sort([("decayed", -1), ("_id", 1)])


async def _interest_page(platform: Any, shop: Any, product: dict[str, Any],
                         change: dict[str, Any], rules: list[Any], page: list[dict[str, Any]],
                         after: Any, attach: Attach | None) -> tuple[int, Any]:
    now = change["at"]  # fired at the change: the same trigger, whoever walks it when
    docs = [trigger(shop.shop_id, change, rule, product, i["userId"], "", i,
                               shop.interest_frame, now)
            for i in page for rule in rules if interested(change, rule, i)]
    fresh = await _store(platform, shop, docs, attach)
    return fresh, [page[-1]["decayed"], page[-1]["_id"]] if page else after


async def _request_page(platform: Any, shop: Any, product: dict[str, Any],
                        change: dict[str, Any], rules: list[Any], page: list[dict[str, Any]],
                        after: Any, attach: Attach | None) -> tuple[int, Any]:
    owners = await owners_of(platform.storage, shop.shop_id, page)
    now = change["at"]  # fired at the change: the same trigger, whoever walks it when
    docs, answered = [], []
    for request in page:
        user_id = owners.get(request["_id"])
        mine = [r for r in rules if asked(change, r, request)]
        if user_id is None or not mine:
            continue
        answered.append(request["_id"])
        docs.extend(trigger(shop.shop_id, change, rule, product, user_id,
                                       request.get("visitorId", ""), None,
                                       shop.interest_frame, now) for rule in mine)
    fresh = await _store(platform, shop, docs, attach)
    # After the triggers are stored: a crash in between answers them on the next walk.
    await answered_by(platform.storage, shop.shop_id, answered, change["changeId"])
    return fresh, page[-1]["_id"] if page else after


async def _store(platform: Any, shop: Any, docs: list[dict[str, Any]],
                 attach: Attach | None) -> int:
    if not docs:
        return 0
    ruleset = await platform.rules.ruleset(shop)
    admitted = await caps.admit(platform.storage, docs, lambda d: ruleset.cap_of(d["ruleId"]))
    if attach is not None:
        admitted = await attach(platform, admitted)
    return len(await platform.outbox.record(admitted))
