"""BACK_IN_STOCK: a request is answered once; a view while out of stock counts as one."""

from __future__ import annotations

from app.catalog import tick
from tests.catalog.helpers import customer, fired, rule, upsert, viewed

NOTIFY = """mutation($c: TrackContext!, $p: String!) { notifyInStock(context: $c, productId: $p) {
  eventId duplicate userId } }"""
GEL = {"productId": "gel", "name": "Energy gel", "price": 12.5, "currency": "RUB",
       "categoryId": "nutrition"}


async def stock(api, shop, available: bool) -> None:
    await upsert(api, shop["key"], {**GEL, "available": available})


async def notify(api, visitor: str, product: str = "gel") -> dict:
    return (await api.data(NOTIFY, {"c": {"shopId": 1, "visitorId": visitor},
                                    "p": product}))["notifyInStock"]


async def back(api, shop, platform) -> list[str]:
    await stock(api, shop, True)
    await tick(platform)
    return sorted(t["userId"] for t in await fired(api, shop["key"], "BACK_IN_STOCK"))


async def test_a_restock_answers_each_request_once_and_never_again(api, shop, platform, clock):
    await rule(api, shop["key"], type="BACK_IN_STOCK")
    await stock(api, shop, False)
    asked = await notify(api, await customer(api, "u1"))
    assert asked["userId"] == "u1" and not asked["duplicate"]
    await notify(api, await customer(api, "u2"))
    await notify(api, await customer(api, "u2"))  # asking twice is one request
    await viewed(api, "u9", "other")
    assert await back(api, shop, platform) == ["u1", "u2"]
    triggers = await fired(api, shop["key"], "BACK_IN_STOCK")
    assert triggers[0]["products"][0]["product"] == {
        "productId": "gel", "name": "Energy gel", "price": 12.5, "oldPrice": None,
        "imageUrl": None, "url": None, "currency": "RUB", "available": True}
    clock.advance(hours=1)
    await stock(api, shop, False)
    clock.advance(hours=1)
    assert await back(api, shop, platform) == ["u1", "u2"]  # not a second time


async def test_a_view_while_out_of_stock_counts_as_a_request(api, shop, platform, clock):
    await rule(api, shop["key"], type="BACK_IN_STOCK")
    await stock(api, shop, True)
    await viewed(api, "before", "gel")  # saw it in stock: nothing to tell
    clock.advance(minutes=5)
    await stock(api, shop, False)
    clock.advance(minutes=5)
    await viewed(api, "during", "gel")
    assert await back(api, shop, platform) == ["during"]


async def test_an_anonymous_request_is_answered_once_the_visitor_logs_in(
        api, shop, platform):
    await rule(api, shop["key"], type="BACK_IN_STOCK")
    await stock(api, shop, False)
    asked = await notify(api, "v-anon")
    assert asked["userId"] is None
    await customer(api, "stranger")
    await api.data("mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
                   {"e": [{"type": "LOGIN", "context": {"shopId": 1, "visitorId": "v-anon"},
                           "userId": "later"}]})
    assert await back(api, shop, platform) == ["later"]


async def test_staying_in_stock_or_first_stock_fires_nothing(api, shop, platform):
    await rule(api, shop["key"], type="BACK_IN_STOCK")
    await notify(api, await customer(api, "u1"))
    await stock(api, shop, True)  # a first upsert: not "back"
    await stock(api, shop, True)
    await tick(platform)
    assert await fired(api, shop["key"], "BACK_IN_STOCK") == []


async def test_a_change_while_still_out_of_stock_fires_nothing_until_it_is_back(
        api, shop, platform, clock):
    await rule(api, shop["key"], type="BACK_IN_STOCK")
    await stock(api, shop, False)
    await notify(api, await customer(api, "u1"))
    clock.advance(hours=1)
    await upsert(api, shop["key"], {"productId": "gel", "price": 11.0, "name": "Gel 2"})
    await tick(platform)
    assert await fired(api, shop["key"], "BACK_IN_STOCK") == []  # still out of stock
    assert await back(api, shop, platform) == ["u1"]


async def test_notify_in_stock_needs_a_product_id(api, shop):
    error = await api.error(NOTIFY, {"c": {"shopId": 1, "visitorId": "v"}, "p": ""})
    assert error["extensions"]["code"] == "BAD_INPUT"


async def test_a_forgotten_customers_request_is_gone_with_them(api, shop, platform):
    await rule(api, shop["key"], type="BACK_IN_STOCK")
    await stock(api, shop, False)
    await notify(api, await customer(api, "alice"))
    await notify(api, await customer(api, "bob"))
    assert (await api.data('mutation { forgetCustomer(shopId: 1, userId: "alice") }',
                           key=shop["key"]))["forgetCustomer"] is True
    assert await back(api, shop, platform) == ["bob"]
