"""What an attack on the public tracking endpoint found (issue 12, items 1 to 3), over HTTP."""

from __future__ import annotations

from typing import Any

from tests.identity.test_identity_api import CUSTOMER, IMPORT, LOGIN, VIEW, ctx
from tests.support.api import Api

ADD = """mutation($c: TrackContext!, $p: String!) {
  addToCart(context: $c, categoryId: "shoes", productId: $p, quantity: 1) { eventId } }"""
CHECKOUT = """mutation($c: TrackContext!, $o: String!) {
  completeCheckout(context: $c, orderId: $o) { eventId duplicate } }"""
ORDERS = """query($u: String!) { customer(shopId: 1, userId: $u) {
  orders { orderId items { productId quantity } } cart { items { productId } } } }"""
TRIGGERS = """query { triggers(shopId: 1, types: [ORDER_COMPLETED]) {
  nodes { userId visitorId cart { items { productId } } } } }"""
TRACK_RESULT = "eventId duplicate sessionId userId"


async def test_an_order_id_used_by_another_visitor_does_not_erase_the_real_order(
        api: Api, shop: dict[str, Any]) -> None:
    # The attacker, with an empty cart and no key, completes "1001" first.
    await api.data(CHECKOUT, {"c": ctx("attacker"), "o": "1001"})
    await api.data(LOGIN, {"c": ctx("buyer"), "u": "alice"})
    await api.data(ADD, {"c": ctx("buyer"), "p": "boots"})
    await api.data(CHECKOUT, {"c": ctx("buyer"), "o": "1001"})

    alice = (await api.data(ORDERS, {"u": "alice"}, key=shop["key"]))["customer"]
    assert alice["orders"] == [{"orderId": "1001",
                                "items": [{"productId": "boots", "quantity": 1}]}]
    assert alice["cart"] is None or alice["cart"]["items"] == []
    fired = (await api.data(TRIGGERS, key=shop["key"]))["triggers"]["nodes"]
    mine = [t for t in fired if t["userId"] == "alice"]
    assert mine == [{"userId": "alice", "visitorId": "buyer",
                     "cart": {"items": [{"productId": "boots"}]}}]


async def test_a_year_one_login_is_answered_and_files_the_history(
        api: Api, shop: dict[str, Any]) -> None:
    year_one = "0001-01-01T00:00:00Z"
    await api.data(VIEW, {"c": ctx("v-old", occurredAt=year_one), "cat": "shoes", "p": "p1"})
    await api.data(ADD, {"c": ctx("v-old"), "p": "boots"})
    body = await api.post(LOGIN, {"c": ctx("v-old", "login-1", occurredAt=year_one),
                                  "u": "bob"})
    assert not body.get("errors"), body
    customer = (await api.data(CUSTOMER, {"u": "bob"}, key=shop["key"]))["customer"]
    assert customer["userId"] == "bob"
    assert customer["cart"]["items"] == [{"productId": "boots", "quantity": 1}]
    imported = await api.post(IMPORT, {"s": 1, "e": [{
        "type": "LOGIN", "userId": "carol",
        "context": ctx("v-imp", occurredAt=year_one)}]}, key=shop["key"])
    assert not imported.get("errors"), imported
    assert (await api.data(CUSTOMER, {"u": "carol"}, key=shop["key"]))["customer"] is not None


async def test_an_event_id_is_the_visitors_own(api: Api, shop: dict[str, Any]) -> None:
    view = f"""mutation($c: TrackContext!) {{ viewProduct(context: $c, categoryId: "shoes",
      productId: "p1") {{ {TRACK_RESULT} }} }}"""
    # The attacker squats an id first; the customer's own event must still be stored.
    squat = (await api.data(view, {"c": ctx("attacker", "shared-id")}))["viewProduct"]
    await api.data(LOGIN, {"c": ctx("victim"), "u": "alice"})
    real = (await api.data(view, {"c": ctx("victim", "shared-id")}))["viewProduct"]
    assert real["duplicate"] is False and real["userId"] == "alice"
    # Sending the customer's id again as the attacker reveals nothing of the customer.
    again = (await api.data(view, {"c": ctx("attacker", "shared-id")}))["viewProduct"]
    assert again["duplicate"] is True
    assert again["sessionId"] == squat["sessionId"] and again["userId"] is None
    assert "victim" not in again["sessionId"]
