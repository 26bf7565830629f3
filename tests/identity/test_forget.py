"""forgetCustomer: the customer and everything filed under it is erased; devices unlinked."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api

FORGET = "mutation($u: String!) { forgetCustomer(shopId: 1, userId: $u) }"
CUSTOMER = """query($u: String!) { customer(shopId: 1, userId: $u) {
  userId visitorIds cart { items { productId quantity } } orders { orderId }
  interestMap { products { productId views } categories { categoryId } } } }"""


def ctx(visitor: str, event_id: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"shopId": 1, "visitorId": visitor}
    if event_id:
        c["eventId"] = event_id
    return c


async def track(api: Api, visitor: str, call: str, **args: Any) -> dict[str, Any]:
    """One tracker mutation; `call` is the field with its literal arguments."""
    data = await api.data(f"mutation($c: TrackContext!) {{ {call} {{ userId }} }}",
                          {"c": ctx(visitor, args.get("event_id"))})
    return next(iter(data.values()))


async def customer_of(api: Api, shop: dict, user: str) -> dict[str, Any] | None:
    return (await api.data(CUSTOMER, {"u": user}, key=shop["key"]))["customer"]


async def build_alice(api: Api) -> None:
    """Alice: an anonymous phone history filed at login, a laptop with cart, order, triggers."""
    await track(api, "phone", 'viewProduct(context: $c, categoryId: "c1", productId: "p1")')
    await track(api, "phone", 'addToCart(context: $c, categoryId: "c1", productId: "p1")')
    await track(api, "phone", 'completeCheckout(context: $c, orderId: "anon-order")')
    await track(api, "phone", 'login(context: $c, userId: "alice")')
    await track(api, "laptop", 'login(context: $c, userId: "alice")')
    await track(api, "laptop", 'addToCart(context: $c, categoryId: "c2", productId: "p2")')
    await track(api, "laptop", 'completeCheckout(context: $c, orderId: "o1")')
    await track(api, "laptop", 'viewSection(context: $c, pageName: "promo")')
    await track(api, "laptop", 'addToCart(context: $c, categoryId: "c3", productId: "p3")')


async def build_bob(api: Api) -> None:
    await track(api, "bob-phone", 'login(context: $c, userId: "bob")')
    await track(api, "bob-phone", 'viewProduct(context: $c, categoryId: "c1", productId: "p1")')
    await track(api, "bob-phone", 'addToCart(context: $c, categoryId: "c1", productId: "p1")')


async def test_forget_answers_true_then_false(api: Api, shop: dict) -> None:
    await build_alice(api)
    assert (await api.data(FORGET, {"u": "alice"}, key=shop["key"]))["forgetCustomer"] is True
    assert (await api.data(FORGET, {"u": "alice"}, key=shop["key"]))["forgetCustomer"] is False


async def test_forgetting_a_stranger_answers_false(api: Api, shop: dict) -> None:
    assert (await api.data(FORGET, {"u": "nobody"}, key=shop["key"]))["forgetCustomer"] is False


async def test_forget_erases_the_customer_and_all_it_owns(api: Api, shop: dict) -> None:
    await build_alice(api)
    before = await customer_of(api, shop, "alice")
    assert before["orders"] and before["cart"] and before["interestMap"]["products"]
    await api.data(FORGET, {"u": "alice"}, key=shop["key"])

    assert await customer_of(api, shop, "alice") is None
    key = shop["key"]
    reads = await api.data("""{
      byUser: events(shopId: 1, userId: "alice") { nodes { eventId } }
      phone: events(shopId: 1, visitorId: "phone") { nodes { eventId } }
      laptop: events(shopId: 1, visitorId: "laptop") { nodes { eventId } }
      sessions: sessions(shopId: 1, userId: "alice") { nodes { sessionId } }
      phoneSessions: sessions(shopId: 1, visitorId: "phone") { nodes { sessionId } }
      cart: cart(shopId: 1, userId: "alice") { items { productId } }
      interestMap(shopId: 1, userId: "alice") { products { productId } categories { categoryId } }
      customers(shopId: 1) { nodes { userId } }
      triggers(shopId: 1) { nodes { userId } }
    }""", key=key)
    assert reads["byUser"]["nodes"] == []
    assert reads["phone"]["nodes"] == []
    assert reads["laptop"]["nodes"] == []
    assert reads["sessions"]["nodes"] == []
    assert reads["phoneSessions"]["nodes"] == []
    assert reads["cart"] is None
    assert reads["interestMap"] == {"products": [], "categories": []}
    assert reads["customers"]["nodes"] == []
    # Also the ones fired while the phone was anonymous: they were filed at login.
    assert reads["triggers"]["nodes"] == []


async def test_forget_unlinks_the_devices(api: Api, shop: dict) -> None:
    await build_alice(api)
    await api.data(FORGET, {"u": "alice"}, key=shop["key"])
    for device in ("phone", "laptop"):
        visitor = await api.data("query($v: String!) { visitor(shopId: 1, visitorId: $v) "
                                 "{ userId } }", {"v": device}, key=shop["key"])
        assert visitor["visitor"]["userId"] is None
    later = await track(api, "laptop", 'viewProduct(context: $c, categoryId: "c1", '
                                       'productId: "p9")')
    assert later["userId"] is None


async def test_a_forgotten_customer_who_returns_starts_afresh(api: Api, shop: dict) -> None:
    await build_alice(api)
    await api.data(FORGET, {"u": "alice"}, key=shop["key"])
    await track(api, "tablet", 'login(context: $c, userId: "alice")', event_id="back")

    alice = await customer_of(api, shop, "alice")
    assert alice == {"userId": "alice", "visitorIds": ["tablet"], "cart": None, "orders": [],
                     "interestMap": {"products": [], "categories": []}}
    events = await api.data('{ events(shopId: 1, userId: "alice") { nodes { eventId } } }',
                            key=shop["key"])
    assert events["events"]["nodes"] == [{"eventId": "back"}]


async def test_forget_leaves_other_customers_alone(api: Api, shop: dict) -> None:
    await build_alice(api)
    await build_bob(api)
    before = await customer_of(api, shop, "bob")
    await api.data(FORGET, {"u": "alice"}, key=shop["key"])
    assert await customer_of(api, shop, "bob") == before
    events = await api.data('{ events(shopId: 1, userId: "bob") { nodes { eventId } } }',
                            key=shop["key"])
    assert len(events["events"]["nodes"]) == 3


async def test_forget_needs_a_key_of_the_shop(api: Api, shop: dict) -> None:
    await build_alice(api)
    other = await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    error = await api.error(FORGET, {"u": "alice"}, key=other["createShop"]["apiKey"])
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await api.error(FORGET, {"u": "alice"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert await customer_of(api, shop, "alice") is not None
    assert (await api.admin(FORGET, {"u": "alice"}))["forgetCustomer"] is True
