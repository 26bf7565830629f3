"""Every validation rule of the tracker: a BAD_INPUT error that names the field, nothing stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import ADMIN_KEY, Api

RESULT = "{ eventId duplicate sessionId newSession userId }"
BATCH = f"mutation($e: [TrackInput!]!) {{ track(events: $e) {RESULT} }}"


def ctx(**more: Any) -> dict[str, Any]:
    return {"shopId": 1, "visitorId": "v1", **more}


async def call(api: Api, mutation: str, args: str, context: dict[str, Any],
               variables: dict[str, Any] | None = None, types: str = "") -> dict[str, Any]:
    body = await api.post(
        f"mutation($c: TrackContext!{types}) {{ {mutation}(context: $c{args}) {RESULT} }}",
        {"c": context, **(variables or {})},
    )
    return body


async def stored(api: Api, shop_id: int = 1) -> dict[str, Any]:
    """What the shop holds: events, sessions and the visitor v1."""
    return await api.data(
        f'{{ events(shopId: {shop_id}) {{ nodes {{ eventId }} }} '
        f"sessions(shopId: {shop_id}) {{ nodes {{ sessionId }} }} "
        f'visitor(shopId: {shop_id}, visitorId: "v1") {{ visitorId }} }}', key=ADMIN_KEY)


NOTHING = {"events": {"nodes": []}, "sessions": {"nodes": []}, "visitor": None}


def assert_refused(body: dict[str, Any], field: str | None = None) -> None:
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_INPUT", error
    if field is not None:
        assert error["extensions"].get("field") == field, error
    assert "Traceback" not in error["message"]


LONG = "x" * 129

CASES = [
    # (name, mutation, arguments, context changes, field)
    ("visitorId with a space", "startVisit", "", {"visitorId": "a b"}, "visitorId"),
    ("visitorId with a slash", "startVisit", "", {"visitorId": "a/b"}, "visitorId"),
    ("visitorId with a dot", "startVisit", "", {"visitorId": "a.b"}, "visitorId"),
    ("visitorId non-ascii", "startVisit", "", {"visitorId": "visitør"}, "visitorId"),
    ("visitorId empty", "startVisit", "", {"visitorId": ""}, "visitorId"),
    ("visitorId of 65 chars", "startVisit", "", {"visitorId": "v" * 65}, "visitorId"),
    ("eventId with a space", "startVisit", "", {"eventId": "e 1"}, "eventId"),
    ("eventId empty", "startVisit", "", {"eventId": ""}, "eventId"),
    ("eventId of 129 chars", "startVisit", "", {"eventId": "e" * 129}, "eventId"),
    ("sourceId too long", "startVisit", "", {"sourceId": "s" * 65}, "sourceId"),
    ("identityToken too long", "startVisit", "", {"identityToken": "t" * 1025},
     "identityToken"),
    ("shopId zero", "startVisit", "", {"shopId": 0}, "shopId"),
    ("shopId negative", "startVisit", "", {"shopId": -3}, "shopId"),
    ("categoryId too long", "viewCategory", f', categoryId: "{LONG}"', {}, "categoryId"),
    ("categoryId empty", "viewCategory", ', categoryId: ""', {}, "categoryId"),
    ("categoryId blank", "viewCategory", ', categoryId: "   "', {}, "categoryId"),
    ("productId too long", "viewProduct", f', categoryId: "c", productId: "{LONG}"', {},
     "productId"),
    ("pageName too long", "viewSection", f', pageName: "{LONG}"', {}, "pageName"),
    ("pageName with a control char", "viewSection", ', pageName: "a\\u0001b"', {}, "pageName"),
    ("userId too long", "login", f', userId: "{LONG}"', {}, "userId"),
    ("userId empty", "register", ', userId: ""', {}, "userId"),
    ("orderId too long", "completeCheckout", f', orderId: "{LONG}"', {}, "orderId"),
    ("eventName too long", "trackEvent", f', eventName: "{LONG}"', {}, "eventName"),
    ("quantity zero", "addToCart", ', categoryId: "c", productId: "p", quantity: 0', {},
     "quantity"),
    ("quantity negative", "addToCart", ', categoryId: "c", productId: "p", quantity: -2', {},
     "quantity"),
    ("price negative", "addToCart", ', categoryId: "c", productId: "p", price: -0.01', {},
     "price"),
    ("removeFromCart productId empty", "removeFromCart", ', productId: ""', {}, "productId"),
]


@pytest.mark.parametrize(("mutation", "args", "changes", "field"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_invalid_field_is_refused_and_nothing_stored(
    api: Api, shop: dict, mutation: str, args: str, changes: dict[str, Any], field: str
) -> None:
    assert_refused(await call(api, mutation, args, ctx(**changes)), field)
    assert await stored(api) == NOTHING


@pytest.mark.parametrize("visitor", ["a", "v" * 64, "Az09_-"])
async def test_visitor_id_limits_are_accepted(api: Api, shop: dict, visitor: str) -> None:
    body = await call(api, "startVisit", "", ctx(visitorId=visitor))
    assert not body.get("errors"), body
    data = await api.data(f'{{ visitor(shopId: 1, visitorId: "{visitor}") {{ visitorId }} }}',
                          key=shop["key"])
    assert data["visitor"] == {"visitorId": visitor}


async def test_longest_event_id_is_accepted(api: Api, shop: dict) -> None:
    body = await call(api, "startVisit", "", ctx(eventId="e" * 128))
    assert body["data"]["startVisit"]["eventId"] == "e" * 128


async def test_long_addresses_are_cut_not_refused(api: Api, shop: dict) -> None:
    long = "https://x.test/" + "a" * 3000
    await api.data("mutation($c: TrackContext!) { startVisit(context: $c) { eventId } }",
                   {"c": {"shopId": 1, "visitorId": "v", "url": long, "referrer": long}})
    events = await api.data("{ events(shopId: 1) { nodes { url } } }", key=shop["key"])
    assert events["events"]["nodes"] == [{"url": long[:2048]}]
    sessions = await api.data("{ sessions(shopId: 1) { nodes { referrer } } }",
                              key=shop["key"])
    assert sessions["sessions"]["nodes"] == [{"referrer": long[:2048]}]


async def test_zero_price_is_accepted(api: Api, shop: dict) -> None:
    body = await call(api, "addToCart", ', categoryId: "c", productId: "gift", price: 0', ctx())
    assert not body.get("errors"), body
    data = await api.data('{ cart(shopId: 1, visitorId: "v1") { items { price } } }',
                          key=shop["key"])
    assert data["cart"]["items"] == [{"price": 0.0}]


async def test_properties_over_four_kilobytes_are_refused(api: Api, shop: dict) -> None:
    body = await call(api, "trackEvent", ', eventName: "big", properties: $p', ctx(),
                      {"p": {"text": "x" * 4096}}, types=", $p: JSON")
    assert_refused(body, "properties")
    assert await stored(api) == NOTHING


async def test_properties_of_four_kilobytes_are_accepted(api: Api, shop: dict) -> None:
    text = "x" * (4096 - len('{"text":""}'))
    body = await call(api, "trackEvent", ', eventName: "big", properties: $p', ctx(),
                      {"p": {"text": text}}, types=", $p: JSON")
    assert not body.get("errors"), body


async def test_missing_required_field_in_batch_is_refused(api: Api, shop: dict) -> None:
    body = await api.post(BATCH, {"e": [{"type": "PRODUCT_VIEW", "categoryId": "c",
                                         "context": ctx()}]})
    assert body["data"]["track"] == [None]
    assert body["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "productId"}
    assert await stored(api) == NOTHING


async def test_batch_of_more_than_100_is_refused_whole(api: Api, shop: dict) -> None:
    events = [{"type": "VISIT", "context": ctx(eventId=f"e{i}")} for i in range(101)]
    body = await api.post(BATCH, {"e": events})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert await stored(api) == NOTHING


async def test_batch_of_100_is_accepted(api: Api, shop: dict) -> None:
    events = [{"type": "SECTION_VIEW", "pageName": "p", "context": ctx(eventId=f"e{i}")}
              for i in range(100)]
    data = await api.data(BATCH, {"e": events})
    assert len(data["track"]) == 100 and all(data["track"])
    got = await api.data("{ events(shopId: 1, first: 200) { nodes { eventId } } }",
                         key=shop["key"])
    assert len(got["events"]["nodes"]) == 100


async def test_unknown_shop_is_refused(api: Api, shop: dict) -> None:
    assert_refused(await call(api, "startVisit", "", ctx(shopId=99)), "shopId")
    assert await stored(api, 99) == NOTHING


async def test_unknown_source_is_refused(api: Api, shop: dict) -> None:
    assert_refused(await call(api, "startVisit", "", ctx(sourceId="nope")))
    assert await stored(api) == NOTHING


async def test_inactive_source_is_refused(api: Api, shop: dict) -> None:
    await api.data('mutation { addEventSource(shopId: 1, sourceId: "old", name: "Old", '
                   "active: false) { shopId } }", key=shop["key"])
    assert_refused(await call(api, "startVisit", "", ctx(sourceId="old")))
    assert await stored(api) == NOTHING


async def test_wrong_argument_type_is_bad_input(api: Api, shop: dict) -> None:
    body = await api.post('mutation { startVisit(context: {shopId: "one", visitorId: "v1"}) '
                          "{ eventId } }")
    assert_refused(body)
    assert await stored(api) == NOTHING


async def test_unknown_event_type_is_bad_input(api: Api, shop: dict) -> None:
    body = await api.post(BATCH, {"e": [{"type": "TELEPORT", "context": ctx()}]})
    assert_refused(body)
