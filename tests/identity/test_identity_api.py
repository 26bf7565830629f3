"""Identification through the API: filing anonymous history, devices, accounts, carts, tokens.

Contract section 2 (identification semantics), 3 (reading) and 5 (importEvents,
issueIdentityToken).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

from app.core.clock import FakeClock
from app.identity.tokens import issue_token
from tests.support.api import Api

LOGIN = """mutation($c: TrackContext!, $u: String!, $h: String) {
  login(context: $c, userId: $u, userHash: $h) { eventId userId } }"""
REGISTER = """mutation($c: TrackContext!, $u: String!, $h: String) {
  register(context: $c, userId: $u, userHash: $h) { eventId userId } }"""
VIEW = """mutation($c: TrackContext!, $cat: String!, $p: String!) {
  viewProduct(context: $c, categoryId: $cat, productId: $p) { eventId userId } }"""
ADD = """mutation($c: TrackContext!, $p: String!, $q: Int!) {
  addToCart(context: $c, categoryId: "shoes", productId: $p, quantity: $q) { userId } }"""
VISIT = "mutation($c: TrackContext!) { startVisit(context: $c) { eventId userId } }"
IMPORT = """mutation($s: Int!, $e: [TrackInput!]!) {
  importEvents(shopId: $s, events: $e) { eventId userId } }"""
EVENTS = """query($u: String, $v: String) { events(shopId: 1, userId: $u, visitorId: $v, first: 500)
  { nodes { eventId type userId visitorId occurredAt } } }"""
CUSTOMER = """query($u: String!) { customer(shopId: 1, userId: $u) {
  userId visitorIds cart { items { productId quantity } }
  interestMap { products { productId views score } categories { categoryId views productViews } }
} }"""
TOKEN = """mutation($s: Int!, $u: String!, $t: Int = 30) {
  issueIdentityToken(shopId: $s, userId: $u, ttlDays: $t) }"""
SETTINGS = """mutation($s: Int!, $x: ShopSettingsInput!) {
  updateShopSettings(shopId: $s, settings: $x) { settings { requireSignedIdentify } } }"""


def ctx(visitor: str, event_id: str | None = None, **more: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"shopId": 1, "visitorId": visitor, **more}
    if event_id:
        c["eventId"] = event_id
    return c


async def login(api: Api, visitor: str, user: str, **more: Any) -> dict[str, Any]:
    return (await api.data(LOGIN, {"c": ctx(visitor, **more), "u": user}))["login"]


async def view(api: Api, visitor: str, product: str, event_id: str | None = None,
               category: str = "shoes", **more: Any) -> dict[str, Any]:
    return (await api.data(VIEW, {"c": ctx(visitor, event_id, **more), "cat": category,
                                  "p": product}))["viewProduct"]


async def events_of(api: Api, shop: dict, *, user: str | None = None,
                    visitor: str | None = None) -> list[dict[str, Any]]:
    data = await api.data(EVENTS, {"u": user, "v": visitor}, key=shop["key"])
    return data["events"]["nodes"]


async def customer(api: Api, shop: dict, user: str) -> dict[str, Any] | None:
    return (await api.data(CUSTOMER, {"u": user}, key=shop["key"]))["customer"]


def imported_view(visitor: str, event_id: str, at: str, product: str) -> dict[str, Any]:
    return {"type": "PRODUCT_VIEW", "categoryId": "shoes", "productId": product,
            "context": {"shopId": 1, "visitorId": visitor, "eventId": event_id,
                        "occurredAt": at}}


def days_ago(clock: FakeClock, days: float) -> str:
    return (clock.now() - timedelta(days=days)).isoformat()


# -- importEvents -----------------------------------------------------------------


async def test_import_keeps_occurred_at(api: Api, shop: dict, clock: FakeClock) -> None:
    at = days_ago(clock, 10)
    result = await api.data(IMPORT, {"s": 1, "e": [imported_view("v1", "old", at, "p1")]},
                            key=shop["key"])
    assert result["importEvents"] == [{"eventId": "old", "userId": None}]
    [event] = await events_of(api, shop, visitor="v1")
    assert event["occurredAt"].replace("Z", "+00:00") == at


async def test_import_refuses_a_future_time_and_keeps_the_rest(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    future = (clock.now() + timedelta(minutes=5)).isoformat()
    body = await api.post(IMPORT, {"s": 1, "e": [imported_view("v1", "ok", days_ago(clock, 1),
                                                               "p1"),
                                                 imported_view("v1", "later", future, "p2")]},
                          key=shop["key"])
    assert body["data"]["importEvents"][0]["eventId"] == "ok"
    assert body["data"]["importEvents"][1] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert body["errors"][0]["path"] == ["importEvents", 1]
    assert [e["eventId"] for e in await events_of(api, shop, visitor="v1")] == ["ok"]


async def test_import_needs_a_key_of_the_shop(api: Api, shop: dict, clock: FakeClock) -> None:
    variables = {"s": 1, "e": [imported_view("v1", "x", days_ago(clock, 1), "p1")]}
    assert (await api.error(IMPORT, variables))["extensions"]["code"] == "UNAUTHENTICATED"
    other = (await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }'))
    error = await api.error(IMPORT, variables, key=other["createShop"]["apiKey"])
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await api.admin(IMPORT, variables))["importEvents"][0]["eventId"] == "x"


# -- filing anonymous history ------------------------------------------------------


async def test_login_files_events_of_the_window_and_not_older(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await api.data(IMPORT, {"s": 1, "e": [
        imported_view("v1", "seventy", days_ago(clock, 70), "old-product"),
        imported_view("v1", "ten", days_ago(clock, 10), "new-product"),
    ]}, key=shop["key"])
    result = await login(api, "v1", "alice", eventId="in")
    assert result["userId"] == "alice"

    by_id = {e["eventId"]: e["userId"] for e in await events_of(api, shop, visitor="v1")}
    assert by_id == {"seventy": None, "ten": "alice", "in": "alice"}
    filed = {e["eventId"] for e in await events_of(api, shop, user="alice")}
    assert filed == {"ten", "in"}
    products = [p["productId"] for p in (await customer(api, shop, "alice"))
                ["interestMap"]["products"]]
    assert products == ["new-product"]


async def test_register_files_history_like_login(api: Api, shop: dict) -> None:
    await view(api, "v1", "p1", "e1")
    result = (await api.data(REGISTER, {"c": ctx("v1"), "u": "bob"}))["register"]
    assert result["userId"] == "bob"
    assert [e["userId"] for e in await events_of(api, shop, visitor="v1")] == ["bob", "bob"]


async def test_shorter_history_window_files_less(api: Api, shop: dict, clock: FakeClock) -> None:
    await api.admin("mutation { updateShopSettings(shopId: 1, settings: "
                    "{anonymousHistoryDays: 7}) { shopId } }")
    await api.data(IMPORT, {"s": 1, "e": [
        imported_view("v1", "eight", days_ago(clock, 8), "p1"),
        imported_view("v1", "six", days_ago(clock, 6), "p2"),
    ]}, key=shop["key"])
    await login(api, "v1", "alice")
    by_id = {e["eventId"]: e["userId"] for e in await events_of(api, shop, visitor="v1")}
    assert by_id["eight"] is None
    assert by_id["six"] == "alice"


async def test_events_after_login_go_straight_to_the_customer(api: Api, shop: dict) -> None:
    await login(api, "v1", "alice")
    assert (await view(api, "v1", "p1"))["userId"] == "alice"
    visitor = await api.data('{ visitor(shopId: 1, visitorId: "v1") { userId } }',
                             key=shop["key"])
    assert visitor["visitor"]["userId"] == "alice"


async def test_login_and_history_in_one_batch_are_filed(api: Api, shop: dict) -> None:
    batch = """mutation($e: [TrackInput!]!) { track(events: $e) { userId } }"""
    result = await api.data(batch, {"e": [
        {"type": "PRODUCT_VIEW", "categoryId": "shoes", "productId": "p1",
         "context": ctx("v1", "a")},
        {"type": "LOGIN", "userId": "alice", "context": ctx("v1", "b")},
        {"type": "PRODUCT_VIEW", "categoryId": "shoes", "productId": "p2",
         "context": ctx("v1", "c")},
    ]})
    assert [r["userId"] for r in result["track"]] == [None, "alice", "alice"]
    assert {e["eventId"] for e in await events_of(api, shop, user="alice")} == {"a", "b", "c"}
    products = (await customer(api, shop, "alice"))["interestMap"]["products"]
    assert {p["productId"] for p in products} == {"p1", "p2"}


# -- devices and accounts -------------------------------------------------------------


async def test_two_devices_feed_one_profile(api: Api, shop: dict) -> None:
    await view(api, "phone", "p1", "ph1")
    await login(api, "phone", "alice", eventId="ph2")
    await view(api, "laptop", "p1", "lt1")
    await view(api, "laptop", "p2", "lt2")
    await login(api, "laptop", "alice", eventId="lt3")

    profile = await customer(api, shop, "alice")
    assert sorted(profile["visitorIds"]) == ["laptop", "phone"]
    events = await events_of(api, shop, user="alice")
    assert {e["visitorId"] for e in events} == {"laptop", "phone"}
    assert {e["eventId"] for e in events} == {"ph1", "ph2", "lt1", "lt2", "lt3"}
    views = {p["productId"]: p["views"] for p in profile["interestMap"]["products"]}
    assert views == {"p1": 2, "p2": 1}
    [shoes] = profile["interestMap"]["categories"]
    assert shoes["productViews"] == 3


async def test_switching_accounts_moves_the_device_on(api: Api, shop: dict) -> None:
    await view(api, "v1", "p-anon", "anon")
    await login(api, "v1", "alice", eventId="la")
    await view(api, "v1", "p-alice", "va")
    assert (await login(api, "v1", "bob", eventId="lb"))["userId"] == "bob"
    assert (await view(api, "v1", "p-bob", "vb"))["userId"] == "bob"

    assert {e["eventId"] for e in await events_of(api, shop, user="alice")} == \
        {"anon", "la", "va"}
    assert {e["eventId"] for e in await events_of(api, shop, user="bob")} == {"lb", "vb"}
    alice, bob = await customer(api, shop, "alice"), await customer(api, shop, "bob")
    assert alice["visitorIds"] == []
    assert bob["visitorIds"] == ["v1"]
    assert {p["productId"] for p in alice["interestMap"]["products"]} == {"p-anon", "p-alice"}
    assert {p["productId"] for p in bob["interestMap"]["products"]} == {"p-bob"}


async def test_logging_in_again_as_the_same_customer_changes_nothing(
    api: Api, shop: dict
) -> None:
    await view(api, "v1", "p1")
    await login(api, "v1", "alice")
    await login(api, "v1", "alice")
    profile = await customer(api, shop, "alice")
    assert profile["visitorIds"] == ["v1"]
    assert [p["views"] for p in profile["interestMap"]["products"]] == [1]


# -- carts ---------------------------------------------------------------------------------


async def test_anonymous_cart_merges_into_the_customers_cart(api: Api, shop: dict) -> None:
    await login(api, "laptop", "alice")
    await api.data(ADD, {"c": ctx("laptop"), "p": "p1", "q": 2})
    await api.data(ADD, {"c": ctx("laptop"), "p": "p2", "q": 1})
    await api.data(ADD, {"c": ctx("phone"), "p": "p1", "q": 3})
    await api.data(ADD, {"c": ctx("phone"), "p": "p3", "q": 4})
    await login(api, "phone", "alice")

    items = {i["productId"]: i["quantity"]
             for i in (await customer(api, shop, "alice"))["cart"]["items"]}
    assert items == {"p1": 5, "p2": 1, "p3": 4}
    by_visitor = await api.data('{ cart(shopId: 1, visitorId: "phone") { items { quantity } } }',
                                key=shop["key"])
    assert sum(i["quantity"] for i in by_visitor["cart"]["items"]) == 10


async def test_anonymous_cart_becomes_the_new_customers_cart(api: Api, shop: dict) -> None:
    await api.data(ADD, {"c": ctx("v1"), "p": "p1", "q": 2})
    await login(api, "v1", "alice")
    cart = (await customer(api, shop, "alice"))["cart"]
    assert cart["items"] == [{"productId": "p1", "quantity": 2}]


async def test_switching_accounts_leaves_the_cart_with_the_first(api: Api, shop: dict) -> None:
    await login(api, "v1", "alice")
    await api.data(ADD, {"c": ctx("v1"), "p": "p1", "q": 2})
    await login(api, "v1", "bob")
    assert (await customer(api, shop, "alice"))["cart"]["items"] == \
        [{"productId": "p1", "quantity": 2}]
    assert (await customer(api, shop, "bob"))["cart"] is None


# -- newsletter tokens -------------------------------------------------------------------


async def token_for(api: Api, shop: dict, user: str, shop_id: int = 1,
                    ttl_days: int | None = None, key: str | None = None) -> str:
    variables: dict[str, Any] = {"s": shop_id, "u": user}
    if ttl_days is not None:
        variables["t"] = ttl_days
    data = await api.data(TOKEN, variables, key=key or shop["key"])
    return data["issueIdentityToken"]


async def test_valid_token_identifies_the_visitor(api: Api, shop: dict) -> None:
    await view(api, "v1", "p1", "before")
    token = await token_for(api, shop, "alice")
    result = await view(api, "v1", "p2", "with-token", identityToken=token)
    assert result["userId"] == "alice"
    assert {e["eventId"] for e in await events_of(api, shop, user="alice")} == \
        {"before", "with-token"}
    assert (await customer(api, shop, "alice"))["visitorIds"] == ["v1"]


async def test_token_is_url_safe(api: Api, shop: dict) -> None:
    token = await token_for(api, shop, "alice+newsletter@example.com/ü")
    assert token.replace("-", "").replace("_", "").replace(".", "").isalnum()
    assert token.isascii()


async def test_token_needs_a_key_of_its_shop(api: Api, shop: dict) -> None:
    other = await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    error = await api.error(TOKEN, {"s": 1, "u": "alice"}, key=other["createShop"]["apiKey"])
    assert error["extensions"]["code"] == "FORBIDDEN"


async def assert_refused_and_stored_anonymous(api: Api, shop: dict, token: str) -> None:
    error = await api.error(VIEW, {"c": ctx("v1", "tok", identityToken=token), "cat": "shoes",
                                   "p": "p1"})
    assert error["extensions"]["code"] == "FORBIDDEN"
    [event] = await events_of(api, shop, visitor="v1")
    assert event["eventId"] == "tok"
    assert event["userId"] is None
    assert await customer(api, shop, "alice") is None
    visitor = await api.data('{ visitor(shopId: 1, visitorId: "v1") { userId } }',
                             key=shop["key"])
    assert visitor["visitor"]["userId"] is None


def flip(text: str, index: int) -> str:
    """The text with one character changed, still made of base64url characters."""
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]


async def test_forged_token_is_refused(api: Api, shop: dict, clock: FakeClock) -> None:
    forged = issue_token("not-the-servers-secret", 1, "alice", clock.now(), 30)
    await assert_refused_and_stored_anonymous(api, shop, forged)


async def test_token_with_altered_payload_is_refused(api: Api, shop: dict) -> None:
    payload, signature = (await token_for(api, shop, "alice")).split(".")
    await assert_refused_and_stored_anonymous(api, shop, f"{flip(payload, 5)}.{signature}")


async def test_token_with_altered_signature_is_refused(api: Api, shop: dict) -> None:
    payload, signature = (await token_for(api, shop, "alice")).split(".")
    await assert_refused_and_stored_anonymous(api, shop, f"{payload}.{flip(signature, 3)}")


async def test_garbage_token_is_refused(api: Api, shop: dict) -> None:
    await assert_refused_and_stored_anonymous(api, shop, "not-a-token")


async def test_expired_token_is_refused(api: Api, shop: dict, clock: FakeClock) -> None:
    token = await token_for(api, shop, "alice", ttl_days=3)
    clock.advance(days=3, seconds=1)
    await assert_refused_and_stored_anonymous(api, shop, token)


async def test_token_is_valid_until_it_expires(api: Api, shop: dict, clock: FakeClock) -> None:
    token = await token_for(api, shop, "alice", ttl_days=3)
    clock.advance(days=3, seconds=-1)
    assert (await view(api, "v1", "p1", identityToken=token))["userId"] == "alice"


async def test_token_of_another_shop_is_refused(api: Api, shop: dict) -> None:
    await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    token = (await api.admin(TOKEN, {"s": 2, "u": "alice"}))["issueIdentityToken"]
    await assert_refused_and_stored_anonymous(api, shop, token)


# -- signed identify -------------------------------------------------------------------------


def sign(secret: str, user: str) -> str:
    return hmac.new(secret.encode(), user.encode(), hashlib.sha256).hexdigest()


async def require_signed(api: Api, shop: dict) -> None:
    data = await api.data(SETTINGS, {"s": 1, "x": {"requireSignedIdentify": True}},
                          key=shop["key"])
    assert data["updateShopSettings"]["settings"]["requireSignedIdentify"] is True


async def test_signed_identify_refuses_login_without_hash(api: Api, shop: dict) -> None:
    await require_signed(api, shop)
    await view(api, "v1", "p1", "anon")
    error = await api.error(LOGIN, {"c": ctx("v1"), "u": "alice"})
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert [e["userId"] for e in await events_of(api, shop, visitor="v1")] == [None]
    assert await customer(api, shop, "alice") is None


async def test_signed_identify_refuses_a_wrong_hash(api: Api, shop: dict) -> None:
    await require_signed(api, shop)
    await view(api, "v1", "p1", "anon")
    for wrong in (sign(shop["identifySecret"], "bob"), sign("other-secret", "alice"), "00"):
        for mutation in (LOGIN, REGISTER):
            error = await api.error(mutation, {"c": ctx("v1"), "u": "alice", "h": wrong})
            assert error["extensions"]["code"] == "FORBIDDEN"
    assert [e["userId"] for e in await events_of(api, shop, visitor="v1")] == [None]
    assert await customer(api, shop, "alice") is None


async def test_signed_identify_links_with_the_right_hash(api: Api, shop: dict) -> None:
    await require_signed(api, shop)
    await view(api, "v1", "p1", "anon")
    good = sign(shop["identifySecret"], "alice")
    result = (await api.data(LOGIN, {"c": ctx("v1"), "u": "alice", "h": good}))["login"]
    assert result["userId"] == "alice"
    assert [e["userId"] for e in await events_of(api, shop, visitor="v1")] == ["alice"] * 2
    bob = (await api.data(REGISTER, {"c": ctx("v2"), "u": "bob",
                                     "h": sign(shop["identifySecret"], "bob")}))["register"]
    assert bob["userId"] == "bob"


async def test_triggers_fired_while_anonymous_are_filed_at_login(api: Api, shop: dict) -> None:
    await api.data('mutation($c: TrackContext!) { viewSection(context: $c, pageName: "sale") '
                   "{ eventId } }", {"c": ctx("v1")})
    await login(api, "v1", "alice")
    data = await api.data("{ triggers(shopId: 1) { nodes { type name userId } } }",
                          key=shop["key"])
    assert data["triggers"]["nodes"] == [{"type": "SECTION_VISITED", "name": "sale",
                                          "userId": "alice"}]


async def test_import_with_the_shop_key_needs_no_hash(api: Api, shop: dict) -> None:
    await require_signed(api, shop)
    data = await api.data(IMPORT, {"s": 1, "e": [
        {"type": "LOGIN", "userId": "alice", "context": ctx("v1")}]}, key=shop["key"])
    assert data["importEvents"][0]["userId"] == "alice"


async def test_hash_is_not_needed_when_signed_identify_is_off(api: Api, shop: dict) -> None:
    assert (await login(api, "v1", "alice"))["userId"] == "alice"


async def test_identify_secret_is_readable_with_the_shops_own_key(api: Api, shop: dict) -> None:
    query = "query($s: Int!) { shop(shopId: $s) { identifySecret } }"
    own = await api.data(query, {"s": 1}, key=shop["key"])
    assert own["shop"]["identifySecret"] == shop["identifySecret"]
    other = await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    error = await api.error(query, {"s": 1}, key=other["createShop"]["apiKey"])
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert shop["identifySecret"] not in str(error)
    error = await api.error(query, {"s": 1})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_bad_token_in_a_batch_answers_null_at_its_index_and_stores_the_event(
    api: Api, shop: dict
) -> None:
    body = await api.post("mutation($e: [TrackInput!]!) { track(events: $e) { userId } }", {"e": [
        {"type": "VISIT", "context": ctx("v1", "a", identityToken="forged.token")},
        {"type": "CATEGORY_VIEW", "categoryId": "c1", "context": ctx("v1", "b")},
    ]})
    assert body["data"]["track"] == [None, {"userId": None}]
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["path"] == ["track", 0]
    assert {e["eventId"]: e["userId"] for e in await events_of(api, shop, visitor="v1")} == \
        {"a": None, "b": None}


async def test_customer_was_first_seen_with_its_first_filed_event(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    first = days_ago(clock, 10)
    await api.data(IMPORT, {"s": 1, "e": [imported_view("v1", "ten", first, "p1")]},
                   key=shop["key"])
    await login(api, "v1", "alice")
    data = await api.data('{ customer(shopId: 1, userId: "alice") { firstSeenAt lastSeenAt } }',
                          key=shop["key"])
    assert data["customer"]["firstSeenAt"].replace("Z", "+00:00") == first
    assert data["customer"]["lastSeenAt"].replace("Z", "+00:00") == clock.now().isoformat()
