"""Who a catalog change concerns, and the trigger each of them gets (pure functions).

PRICE_DROPPED: a customer whose interest in the product (app/interests.py) shows
a view or a cart add (`lastSeenAt`) within the rule's `lookbackDays` before the
change, and no purchase at or after that (`lastBoughtAt`). BACK_IN_STOCK: a
customer who viewed the product while it was out of stock (`lastSeenAt` between
`since`, when it went out, and the change) within `lookbackDays`, or who asked
with `notifyInStock` (app/catalog/stock.py) within `lookbackDays` and was not
answered yet. Interest documents written before `lastSeenAt` / `lastBoughtAt`
existed fall back on `lastInteractionAt` and their counters (a purchase then
counts as "bought since").

Each trigger's id is `<change>:<rule>:<customer>`: whichever process, and however
often, a page is walked, a customer gets one trigger per change and rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.catalog.products import PRICE_DROP, drop_percent, public
from app.core import owner_of, utc
from app.interests import Frame
from app.triggers import held_out, make

PRICE_DROPPED, BACK_IN_STOCK = "PRICE_DROPPED", "BACK_IN_STOCK"
TYPE_OF = {PRICE_DROP: PRICE_DROPPED, "RESTOCK": BACK_IN_STOCK}
DEFAULT_MIN_DROP, DEFAULT_LOOKBACK = 5.0, 30


def _at(value: Any) -> datetime | None:
    return utc(value) if isinstance(value, datetime) else None


def seen_at(interest: dict[str, Any]) -> datetime | None:
    if interest.get("lastSeenAt"):
        return _at(interest["lastSeenAt"])
    if interest.get("views") or interest.get("cartAdds"):
        return _at(interest.get("lastInteractionAt"))
    return None


def bought_at(interest: dict[str, Any]) -> datetime | None:
    if interest.get("lastBoughtAt"):
        return _at(interest["lastBoughtAt"])
    if interest.get("purchases") and not interest.get("lastSeenAt"):
        return _at(interest.get("lastInteractionAt"))
    return None


def lookback(rule: Any) -> timedelta:
    return timedelta(days=getattr(rule, "lookback_days", None) or DEFAULT_LOOKBACK)


def rules_for(change: dict[str, Any], product: dict[str, Any], rules: list[Any]) -> list[Any]:
    """The enabled rules of the change's type that this change fires."""
    out = []
    for rule in rules:
        if rule.match and product.get("categoryId") not in rule.match:
            continue
        if change["kind"] == PRICE_DROP:
            least = getattr(rule, "min_drop_percent", None) or DEFAULT_MIN_DROP
            if drop_percent(change["old"], change["new"]) < least:
                continue
        out.append(rule)
    return out


def interested(change: dict[str, Any], rule: Any, interest: dict[str, Any]) -> bool:
    """Whether the customer behind this product interest gets the rule's trigger."""
    at = utc(change["at"])
    seen = seen_at(interest)
    if seen is None or seen < at - lookback(rule):
        return False
    if change["kind"] == PRICE_DROP:
        bought = bought_at(interest)
        return bought is None or bought < seen
    since = _at(change.get("since"))
    return (since is None or seen >= since) and seen <= at


def asked(change: dict[str, Any], rule: Any, request: dict[str, Any]) -> bool:
    """Whether a notifyInStock request is answered by this change and rule."""
    at = utc(change["at"])
    return at - lookback(rule) <= utc(request["requestedAt"]) <= at


def trigger(shop_id: int, change: dict[str, Any], rule: Any, product: dict[str, Any],
            user_id: str, visitor_id: str, interest: dict[str, Any] | None, frame: Frame,
            now: datetime) -> dict[str, Any]:
    """The trigger of one customer: the product (with its catalog data) and, for a drop,
    the old and new price."""
    properties = None
    if change["kind"] == PRICE_DROP:
        properties = {"oldPrice": change["old"], "newPrice": change["new"],
                      "dropPercent": drop_percent(change["old"], change["new"])}
    interest = interest or {}
    item = {"productId": product["productId"], "categoryId": product.get("categoryId"),
            "score": frame.score(interest.get("decayed", 0.0), now),
            "views": interest.get("views", 0), "cartAdds": interest.get("cartAdds", 0),
            "purchases": interest.get("purchases", 0),
            "lastInteractionAt": interest.get("lastInteractionAt") or change["at"],
            "product": public(product)}
    doc = make(
        f"{change['changeId']}:{rule.rule_id}:{user_id}", TYPE_OF[change["kind"]], shop_id,
        fired_at=now, visitor_id=visitor_id, user_id=user_id, name=product.get("name"),
        properties=properties, rule_id=rule.rule_id, products=[item],
        category_id=product.get("categoryId"))
    percent = getattr(rule, "holdout_percent", 0)
    if percent and held_out(rule.rule_id, owner_of(user_id, visitor_id), percent):
        doc.update(heldOut=True, published=True)  # stored only, as every rule's holdout
    return doc


async def interested_customers(platform: Any, shop_id: int, product_id: str,
                               limit: int) -> list[dict[str, Any]]:
    """The customers most interested in a product now, best first (the interests index by
    shopId, kind, itemId, decayed); `score` as the interest map shows it."""
    shop = await platform.shops.get(shop_id)
    if shop is None:
        return []
    docs = await platform.storage.interests.find(
        {"shopId": shop_id, "kind": "product", "itemId": product_id}).sort(
        [("decayed", -1), ("_id", 1)]).limit(limit).to_list(limit)
    now = platform.clock.now()
    for doc in docs:
        doc["score"] = shop.interest_frame.score(doc.get("decayed", 0.0), now)
    return docs
