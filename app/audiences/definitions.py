"""Live interest audiences: the customers whose current interest score in one category
or one product is at least `minScore`.

Customers enter when an interaction lifts their score to `minScore` (app/audiences/membership.py,
called where interest deltas are written) and leave when decay alone takes it below: with
forward decay the moment is known when the score is written, `T0 + H * log2(S / minScore)`,
so it is stored and found by a due-time index (app/audiences/worker.py), like an abandoned
cart. See docs/audiences.md.

The definitions live on the shop document (`audiences`, at most 100): every process has
them with the shop it reads anyway (cached for a few seconds), so an interaction in a shop
without audiences costs no round trip, and the limit is one conditional `$push`.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from typing import Any

import app.audiences.worker as audiences_worker
from app.analytics import reading
from app.core import BadInput, NotFound
from app.platform import Platform

MAX_AUDIENCES = 100
MAX_TITLE = 200
MAX_ITEM_ID = 128  # as for the categoryId / productId of an event


def _item_id(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not 1 <= len(value) <= MAX_ITEM_ID or any(ord(c) < 32 for c in value):
        raise BadInput(f"{name} must be 1 to {MAX_ITEM_ID} printable characters", field=name)
    return value


def check(title: str, category_id: str | None, product_id: str | None,
          min_score: float) -> dict[str, Any]:
    """The audience as stored, from what the API was given; BadInput naming the field."""
    title = title.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise BadInput(f"title must be 1 to {MAX_TITLE} characters", field="title")
    category_id = _item_id(category_id, "categoryId")
    product_id = _item_id(product_id, "productId")
    if (category_id is None) == (product_id is None):
        raise BadInput("an audience follows exactly one of categoryId and productId",
                       field="categoryId")
    if not isinstance(min_score, int | float) or not math.isfinite(min_score) \
            or min_score <= 0:
        raise BadInput("minScore must be a number above 0", field="minScore")
    return {"title": title, "categoryId": category_id, "productId": product_id,
            "minScore": float(min_score)}


async def create(platform: Platform, shop_id: int, title: str, category_id: str | None,
                 product_id: str | None, min_score: float) -> dict[str, Any]:
    """Define an audience; the customers who already qualify enter in the background."""
    audience = check(title, category_id, product_id, min_score)
    await platform.shops.require_existing(shop_id)
    audience["audienceId"] = "a" + secrets.token_hex(8)
    audience["createdAt"] = platform.clock.now()
    # The filling job first: if the process dies before the audience is added, the job
    # finds no audience and goes away; the other way round, an audience would stay unfilled.
    jobs = platform.storage.audienceJobs
    job = audiences_worker.backfill_job(shop_id, audience)
    await jobs.insert_one(job)
    added = await platform.storage.shops.update_one(
        {"_id": shop_id, f"audiences.{MAX_AUDIENCES - 1}": {"$exists": False}},
        {"$push": {"audiences": audience}})
    platform.shops.forget(shop_id)
    if not added.matched_count:
        await jobs.delete_one({"_id": job["_id"], "shopId": shop_id})
        raise BadInput(f"a shop has at most {MAX_AUDIENCES} audiences", field="audience")
    return {**audience, "size": 0}


async def delete(platform: Platform, shop_id: int, audience_id: str) -> bool:
    """Remove the audience and its memberships; no trigger fires for them."""
    await platform.shops.require_existing(shop_id)
    removed = await platform.storage.shops.update_one(
        {"_id": shop_id, "audiences.audienceId": audience_id},
        {"$pull": {"audiences": {"audienceId": audience_id}}})
    platform.shops.forget(shop_id)
    if not removed.matched_count:
        raise NotFound(f"shop {shop_id} has no audience {audience_id!r}")
    # A process dying here leaves memberships behind: the worker drops each one when it
    # comes due and finds its audience gone (app/audiences/worker.py).
    await platform.storage.memberships.delete_many({"shopId": shop_id,
                                                    "audienceId": audience_id})
    job = audiences_worker.backfill_job(shop_id, {"audienceId": audience_id, "createdAt": None})
    await platform.storage.audienceJobs.delete_one({"_id": job["_id"], "shopId": shop_id})
    return True


async def size(platform: Platform, shop_id: int, audience_id: str) -> int:
    return int(await platform.storage.memberships.count_documents(
        {"shopId": shop_id, "audienceId": audience_id, "member": True}))


async def listed(platform: Platform, shop_id: int) -> list[dict[str, Any]]:
    """The shop's audiences, oldest first, each with its current size."""
    shop = await platform.shops.require_existing(shop_id)
    sizes = await asyncio.gather(*(size(platform, shop_id, a["audienceId"])
                                   for a in shop.audiences))
    return [{**a, "size": n} for a, n in zip(shop.audiences, sizes, strict=True)]


async def require(platform: Platform, shop_id: int, audience_id: str) -> dict[str, Any]:
    shop = await platform.shops.require_existing(shop_id)
    for audience in shop.audiences:
        if audience["audienceId"] == audience_id:
            return audience
    raise NotFound(f"shop {shop_id} has no audience {audience_id!r}")


async def members(platform: Platform, shop_id: int, audience_id: str, first: int = 50,
                  after: str | None = None) -> reading.Page:
    """The audience's members as customers, by userId."""
    reading.check_first(first)
    await require(platform, shop_id, audience_id)
    query: dict[str, Any] = {"shopId": shop_id, "audienceId": audience_id, "member": True}
    if after:
        user_id, _ = reading.decode_cursor(after)
        if not isinstance(user_id, str):
            raise BadInput("after is not a cursor this API gave out", field="after")
        query["userId"] = {"$gt": user_id}
    docs = await platform.storage.memberships.find(query, {"userId": 1}).sort("userId", 1) \
        .limit(first + 1).to_list(first + 1)
    page = docs[:first]
    nodes = await reading.customers_by_id(platform, shop_id, [d["userId"] for d in page])
    cursor = reading.encode_cursor(page[-1]["userId"], page[-1]["_id"]) if page else None
    return reading.Page(nodes, len(docs) > first, cursor)


async def reschedule_exits(platform: Platform, shop_id: int) -> None:
    """After a change of the half-life: every member's exit is computed again.

    Each membership becomes due now; the worker computes its exit in the new frame and
    either fires it or stores the new moment, in bounded batches. Idempotent: a retried
    settings change does it again, harmlessly.
    """
    shop = await platform.shops.require_existing(shop_id)
    ids = [a["audienceId"] for a in shop.audiences]
    if ids:
        await platform.storage.memberships.update_many(
            {"shopId": shop_id, "audienceId": {"$in": ids}, "member": True},
            {"$set": {"dueAt": platform.clock.now()}})

