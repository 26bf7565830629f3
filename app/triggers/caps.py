"""Caps: at most one trigger of a rule per customer (or visitor) in the rule's `capSeconds`.

Across processes, by one document per (rule, owner) in `triggerCaps`, claimed
with a conditional upsert: the filter matches only a claim that has run out
(`until <= firedAt`) or one this same trigger made (a retry after a crash). A
live claim of another trigger makes the upsert insert the same `_id` again,
which fails with a duplicate key: that trigger is capped. Claims of one batch
go in one bulk write. A claim whose trigger then fails to be stored is kept by
that trigger's id, so its retry passes, and nothing else can fire in the window.

Run-out claims are deleted by a TTL index on `until` on MongoDB; a missing
claim means the same as a run-out one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from app.backends.storage import Storage
from app.core import owner_of, utc

DUPLICATE_KEY = 11000


def cap_key(shop_id: int, rule_id: str, owner: str) -> str:
    return f"{shop_id}:{rule_id}:{owner}"


async def admit(
    storage: Storage, docs: list[dict[str, Any]], cap_of: Callable[[dict[str, Any]], int]
) -> list[dict[str, Any]]:
    """The triggers that may fire: those of uncapped rules, and those whose claim holds."""
    claims: list[tuple[int, UpdateOne]] = []
    for index, doc in enumerate(docs):
        seconds = cap_of(doc)
        if seconds > 0 and doc.get("ruleId"):
            claims.append((index, _claim(doc, seconds)))
    if not claims:
        return docs
    capped: set[int] = set()
    try:
        await storage.triggerCaps.bulk_write([op for _, op in claims], ordered=False)
    except BulkWriteError as error:
        errors = error.details["writeErrors"]
        if any(e["code"] != DUPLICATE_KEY for e in errors):
            raise
        capped = {claims[e["index"]][0] for e in errors}
    return [doc for index, doc in enumerate(docs) if index not in capped]


def _claim(doc: dict[str, Any], seconds: int) -> UpdateOne:
    at = utc(doc["firedAt"])
    owner = owner_of(doc.get("userId"), doc.get("visitorId") or "")
    return UpdateOne(
        {"_id": cap_key(doc["shopId"], doc["ruleId"], owner), "shopId": doc["shopId"],
         "$or": [{"until": {"$lte": at}}, {"triggerId": doc["_id"]}]},
        {"$set": {"until": at + timedelta(seconds=seconds), "triggerId": doc["_id"],
                  "userId": doc.get("userId")}},  # erased with the customer (forgetCustomer)
        upsert=True,
    )
