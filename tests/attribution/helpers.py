"""What the section 12 tests do through the public API."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api

SHOP_URL = "https://shop.example.ru"
TRACK = ("mutation($e: [TrackInput!]!) { track(events: $e) { eventId duplicate sessionId "
         "userId } }")
SESSIONS = """query($v: String, $u: String) { sessions(shopId: 1, visitorId: $v, userId: $u) {
  nodes { sessionId channel utm { source medium campaign term content } referrerHost
          triggerId landingUrl } } }"""
TRIGGERS = """{ triggers(shopId: 1, first: 500) { nodes { triggerId type ruleId userId heldOut
  link firedAt } } }"""
ORDERS = """query($u: String!) { customer(shopId: 1, userId: $u) { orders {
  orderId revenue status items { productId quantity price }
  attribution { triggerId ruleId type kind } } } }"""
UPSERT = "mutation($o: [OrderInput!]!) { upsertOrders(shopId: 1, orders: $o) }"
PERFORMANCE = """query($f: DateTime!, $t: DateTime!) { triggerPerformance(shopId: 1, from: $f,
  to: $t) { ruleId type title triggers delivered heldOut clicks orders revenue conversionRate
  holdoutConversionRate lift liftLow liftHigh customers holdoutCustomers } }"""
CHANNELS = """query($f: DateTime!, $t: DateTime!) { channels(shopId: 1, from: $f, to: $t) {
  channel sessions visitors orders revenue } }"""


def event(type_: str, visitor: str, **fields: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"shopId": 1, "visitorId": visitor}
    for name in ("eventId", "occurredAt", "url", "referrer"):
        if name in fields:
            context[name] = fields.pop(name)
    return {"type": type_, "context": context, **fields}


async def track(api: Api, type_: str, visitor: str, **fields: Any) -> dict[str, Any]:
    return (await api.data(TRACK, {"e": [event(type_, visitor, **fields)]}))["track"][0]


async def land(api: Api, visitor: str, url: str | None, referrer: str | None = None,
               user: str | None = None) -> dict[str, Any]:
    """A visit that opens a session (logged in when `user`)."""
    result = await track(api, "VISIT", visitor, url=url, referrer=referrer)
    if user:
        await track(api, "LOGIN", visitor, userId=user)
    return result


async def sessions(api: Api, key: str, visitor: str | None = None,
                   user: str | None = None) -> list[dict[str, Any]]:
    data = await api.data(SESSIONS, {"v": visitor, "u": user}, key=key)
    return data["sessions"]["nodes"]


async def triggers(api: Api, key: str) -> list[dict[str, Any]]:
    return (await api.data(TRIGGERS, key=key))["triggers"]["nodes"]


async def fire_section(api: Api, visitor: str, page: str = "sale") -> None:
    """A SECTION_VISITED trigger (the default rule) for the visitor."""
    await track(api, "SECTION_VIEW", visitor, pageName=page)


async def buy(api: Api, visitor: str, order_id: str, price: float = 10.0,
              quantity: int = 2, event_id: str | None = None) -> None:
    await track(api, "CART_ADD", visitor, productId="p1", categoryId="c1", quantity=quantity,
                price=price)
    extra = {"eventId": event_id} if event_id else {}
    await track(api, "CHECKOUT", visitor, orderId=order_id, **extra)


async def orders(api: Api, key: str, user: str) -> list[dict[str, Any]]:
    return (await api.data(ORDERS, {"u": user}, key=key))["customer"]["orders"]


async def performance(api: Api, key: str, start: str, end: str) -> dict[str, dict[str, Any]]:
    rows = (await api.data(PERFORMANCE, {"f": start, "t": end}, key=key))["triggerPerformance"]
    return {r["ruleId"]: r for r in rows}


async def channels(api: Api, key: str, start: str, end: str) -> dict[str, dict[str, Any]]:
    rows = (await api.data(CHANNELS, {"f": start, "t": end}, key=key))["channels"]
    return {r["channel"]: r for r in rows}


async def set_window(api: Api, key: str, seconds: int) -> None:
    await api.data("mutation($s: ShopSettingsInput!) { updateShopSettings(shopId: 1, "
                   "settings: $s) { shopId } }", {"s": {"attributionWindowSeconds": seconds}},
                   key=key)
