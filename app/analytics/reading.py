"""What dashboards read: customers, visitors, sessions, events, carts, orders, interests.

Pages are newest first (customers: by id) and their cursors name the last item
seen by its sort value and `_id`, so a page stays correct while events arrive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import carts, interests
from app.core import BadInput, b64, cart_key, customer_key, from_ms, owner_of, utc, visitor_key
from app.platform import Platform

MAX_PAGE = 500


@dataclass
class Page:
    nodes: list[dict[str, Any]]
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(value: Any, doc_id: Any) -> str:
    if isinstance(value, datetime):
        value = {"t": utc(value).isoformat()}
    raw = json.dumps([value, doc_id], separators=(",", ":")).encode()
    return b64.encode(raw)


def decode_cursor(cursor: str) -> tuple[Any, Any]:
    try:
        value, doc_id = json.loads(b64.decode(cursor))
        if isinstance(value, dict):
            # Normalised here, where a time at the calendar's edge (0001-01-01T00:00+01:00)
            # is a bad cursor, not an OverflowError in the query.
            value = utc(datetime.fromisoformat(value["t"]))
        return value, doc_id
    except Exception:
        raise BadInput("after is not a cursor this API gave out", field="after") from None


def check_first(first: int) -> None:
    if not 1 <= first <= MAX_PAGE:
        raise BadInput(f"first must be from 1 to {MAX_PAGE}", field="first")


async def _page(
    collection: Any, query: dict[str, Any], sort_field: str, descending: bool, first: int,
    after: str | None,
) -> Page:
    check_first(first)
    if after:
        value, doc_id = decode_cursor(after)
        op = "$lt" if descending else "$gt"
        if sort_field == "_id":
            query = {**query, "_id": {op: doc_id}}
        else:
            # The top-level bound lets the index start at the cursor, not at the top.
            bound = "$lte" if descending else "$gte"
            query = {**query, sort_field: {bound: value},
                     "$or": [{sort_field: {op: value}}, {sort_field: value, "_id": {op: doc_id}}]}
    direction = -1 if descending else 1
    order = [(sort_field, direction)] + ([("_id", direction)] if sort_field != "_id" else [])
    docs = await collection.find(query).sort(order).limit(first + 1).to_list(first + 1)
    nodes = docs[:first]
    cursor = encode_cursor(nodes[-1][sort_field], nodes[-1]["_id"]) if nodes else None
    return Page(nodes, len(docs) > first, cursor)


def _owner_query(shop_id: int, user_id: str | None, visitor_id: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"shopId": shop_id}
    if user_id is not None:
        query["userId"] = user_id
    if visitor_id is not None:
        query["visitorId"] = visitor_id
    return query


async def events(
    platform: Platform, shop_id: int, *, user_id: str | None = None,
    visitor_id: str | None = None, types: list[str] | None = None, first: int = 50,
    after: str | None = None,
) -> Page:
    query = _owner_query(shop_id, user_id, visitor_id)
    if types:
        query["type"] = {"$in": types}
    return await _page(platform.storage.events, query, "occurredAt", True, first, after)


async def sessions(
    platform: Platform, shop_id: int, *, user_id: str | None = None,
    visitor_id: str | None = None, first: int = 20, after: str | None = None,
) -> Page:
    page = await _page(platform.storage.sessions, _owner_query(shop_id, user_id, visitor_id),
                       "startedAt", True, first, after)
    # A visitor's current session keeps its counters on the visitor document.
    ids = sorted({visitor_key(shop_id, s["visitorId"]) for s in page.nodes})
    if ids:
        current = {
            v["sid"]: v for v in await platform.storage.visitors.find(
                {"shopId": shop_id, "_id": {"$in": ids}}, {"sid": 1, "sLastMs": 1, "sEvents": 1}
            ).to_list(None)
            if v.get("sid")
        }
        for node in page.nodes:
            live = current.get(node["sessionId"])
            if live:
                node["lastEventAt"] = from_ms(live["sLastMs"])
                node["eventsCount"] = live["sEvents"]
    return page


async def visitor(platform: Platform, shop_id: int, visitor_id: str) -> dict[str, Any] | None:
    return await platform.storage.visitors.find_one(
        {"_id": visitor_key(shop_id, visitor_id), "shopId": shop_id})


async def customer(platform: Platform, shop_id: int, user_id: str) -> dict[str, Any] | None:
    doc = await platform.storage.customers.find_one(
        {"_id": customer_key(shop_id, user_id), "shopId": shop_id})
    if doc is None:
        return None
    return (await _with_last_seen(platform, shop_id, [doc]))[0]


async def customers(
    platform: Platform, shop_id: int, *, first: int = 20, after: str | None = None
) -> Page:
    page = await _page(platform.storage.customers, {"shopId": shop_id}, "_id", False, first,
                       after)
    page.nodes = await _with_last_seen(platform, shop_id, page.nodes)
    return page


async def customers_by_id(
    platform: Platform, shop_id: int, user_ids: list[str]
) -> list[dict[str, Any]]:
    """These customers, in this order (ones that no longer exist are left out)."""
    if not user_ids:
        return []
    found = {d["userId"]: d for d in await platform.storage.customers.find(
        {"shopId": shop_id, "_id": {"$in": [customer_key(shop_id, u) for u in user_ids]}}
    ).to_list(None)}
    return await _with_last_seen(platform, shop_id, [found[u] for u in user_ids if u in found])


async def _with_last_seen(
    platform: Platform, shop_id: int, docs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A customer was last seen when any of its devices was."""
    ids = sorted({visitor_key(shop_id, v) for d in docs for v in d.get("visitorIds", [])})
    seen: dict[str, datetime] = {}
    if ids:
        for v in await platform.storage.visitors.find(
            {"shopId": shop_id, "_id": {"$in": ids}}, {"userId": 1, "lastSeenAt": 1}
        ).to_list(None):
            if v.get("userId") and v.get("lastSeenAt"):
                last = utc(v["lastSeenAt"])
                seen[v["userId"]] = max(seen.get(v["userId"], last), last)
    for d in docs:
        times = [utc(d["lastSeenAt"])] + ([seen[d["userId"]]] if d["userId"] in seen else [])
        d["lastSeenAt"] = max(times)
    return docs


async def cart(
    platform: Platform, shop_id: int, *, user_id: str | None = None,
    visitor_id: str | None = None,
) -> dict[str, Any] | None:
    if user_id is None and visitor_id is None:
        raise BadInput("cart needs userId or visitorId", field="userId")
    if user_id is None:
        v = await visitor(platform, shop_id, visitor_id or "")
        if v is None:
            return None
        user_id = v.get("userId")
    doc = await platform.storage.carts.find_one(
        {"_id": cart_key(shop_id, owner_of(user_id, visitor_id or "")), "shopId": shop_id})
    return doc


def cart_view(doc: dict[str, Any] | None) -> dict[str, Any]:
    return {"items": carts.items_of(doc), "status": carts.status_of(doc),
            "updatedAt": (doc or {}).get("updatedAt")}


async def orders(platform: Platform, shop_id: int, user_id: str) -> list[dict[str, Any]]:
    return await platform.storage.orders.find({"shopId": shop_id, "userId": user_id}) \
        .sort("completedAt", -1).limit(MAX_PAGE).to_list(MAX_PAGE)


async def interest_map(
    platform: Platform, shop_id: int, user_id: str, limit: int = 20
) -> dict[str, list[dict[str, Any]]]:
    if not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"limit must be from 1 to {MAX_PAGE}", field="limit")
    now = platform.clock.now()
    shop = await platform.shops.get(shop_id)
    frame = shop.interest_frame if shop else interests.DEFAULT_FRAME
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, key in ((interests.CATEGORY, "categories"), (interests.PRODUCT, "products")):
        docs = await platform.storage.interests.find(
            {"shopId": shop_id, "userId": user_id, "kind": kind}
        ).sort("decayed", -1).limit(limit).to_list(limit)
        for d in docs:
            d["score"] = frame.score(d.get("decayed", 0.0), now)
        out[key] = docs
    return out
