"""Every tracker mutation over real HTTP, with its effect read back through the queries."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.clock import FakeClock
from tests.support.api import Api

RESULT = "{ eventId duplicate sessionId newSession userId }"
EVENT = ("{ eventId type visitorId userId sessionId sourceId occurredAt categoryId productId "
         "pageName orderId eventName quantity price properties url }")
CART = "{ status items { productId categoryId quantity price } }"


def ctx(visitor: str = "v1", event_id: str | None = None, **more: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"shopId": 1, "visitorId": visitor, **more}
    if event_id is not None:
        context["eventId"] = event_id
    return context


async def track(api: Api, mutation: str, args: str = "", **context: Any) -> dict[str, Any]:
    """Call one tracker mutation; `args` are its GraphQL arguments after the context."""
    data = await api.data(
        f"mutation($c: TrackContext!) {{ {mutation}(context: $c{args}) {RESULT} }}",
        {"c": ctx(**context)},
    )
    return data[mutation]


async def events(api: Api, key: str, filters: str = "") -> list[dict[str, Any]]:
    data = await api.data(f"{{ events(shopId: 1{filters}) {{ nodes {EVENT} }} }}", key=key)
    return data["events"]["nodes"]


async def sessions(api: Api, key: str, visitor: str = "v1") -> list[dict[str, Any]]:
    data = await api.data(
        f'{{ sessions(shopId: 1, visitorId: "{visitor}") {{ nodes {{ sessionId eventsCount '
        "sourceId landingUrl referrer startedAt } } }", key=key)
    return data["sessions"]["nodes"]


async def cart(api: Api, key: str, visitor: str = "v1") -> dict[str, Any] | None:
    data = await api.data(f'{{ cart(shopId: 1, visitorId: "{visitor}") {CART} }}', key=key)
    return data["cart"]


# -- one mutation each ---------------------------------------------------------------


async def test_start_visit_opens_a_session_with_landing_page(api: Api, shop: dict) -> None:
    result = await track(api, "startVisit", event_id="e1", url="https://shop.test/",
                         referrer="https://search.test/?q=shoes")
    assert result["newSession"] is True and result["duplicate"] is False
    [session] = await sessions(api, shop["key"])
    assert session["sessionId"] == result["sessionId"]
    assert session["eventsCount"] == 1
    assert session["landingUrl"] == "https://shop.test/"
    assert session["referrer"] == "https://search.test/?q=shoes"
    assert session["sourceId"] == shop["defaultSourceId"]
    [event] = await events(api, shop["key"])
    assert event["type"] == "VISIT" and event["url"] == "https://shop.test/"


async def test_view_product_is_stored_with_category_and_product(api: Api, shop: dict) -> None:
    await track(api, "viewProduct", ', categoryId: "shoes", productId: "p1"', event_id="e1")
    [event] = await events(api, shop["key"])
    assert (event["type"], event["categoryId"], event["productId"]) == (
        "PRODUCT_VIEW", "shoes", "p1")
    assert event["visitorId"] == "v1" and event["userId"] is None


async def test_view_category_is_stored(api: Api, shop: dict) -> None:
    await track(api, "viewCategory", ', categoryId: "hats"')
    [event] = await events(api, shop["key"])
    assert (event["type"], event["categoryId"], event["productId"]) == (
        "CATEGORY_VIEW", "hats", None)


async def test_view_section_is_stored_with_page_name(api: Api, shop: dict) -> None:
    await track(api, "viewSection", ', pageName: "delivery"')
    [event] = await events(api, shop["key"])
    assert (event["type"], event["pageName"]) == ("SECTION_VIEW", "delivery")


async def test_login_links_visitor_to_customer(api: Api, shop: dict) -> None:
    result = await track(api, "login", ', userId: "alice"')
    assert result["userId"] == "alice"
    data = await api.data(
        '{ visitor(shopId: 1, visitorId: "v1") { userId } '
        'customer(shopId: 1, userId: "alice") { userId visitorIds } }', key=shop["key"])
    assert data["visitor"] == {"userId": "alice"}
    assert data["customer"] == {"userId": "alice", "visitorIds": ["v1"]}
    [event] = await events(api, shop["key"])
    assert (event["type"], event["userId"]) == ("LOGIN", "alice")


async def test_register_links_visitor_to_customer(api: Api, shop: dict) -> None:
    result = await track(api, "register", ', userId: "bob"', visitor="v2")
    assert result["userId"] == "bob"
    data = await api.data('{ customer(shopId: 1, userId: "bob") { visitorIds } }',
                          key=shop["key"])
    assert data["customer"] == {"visitorIds": ["v2"]}
    [event] = await events(api, shop["key"])
    assert (event["type"], event["userId"]) == ("REGISTRATION", "bob")


async def test_events_after_login_are_filed_under_the_customer(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await track(api, "login", ', userId: "alice"')
    clock.advance(seconds=1)
    result = await track(api, "viewCategory", ', categoryId: "hats"')
    assert result["userId"] == "alice"
    nodes = await events(api, shop["key"], ', userId: "alice"')
    assert [e["type"] for e in nodes] == ["CATEGORY_VIEW", "LOGIN"]


async def test_add_to_cart_puts_the_item_in_the_cart(api: Api, shop: dict) -> None:
    await track(api, "addToCart", ', categoryId: "shoes", productId: "p1", quantity: 2, '
                "price: 9.5")
    assert await cart(api, shop["key"]) == {"status": "ACTIVE", "items": [
        {"productId": "p1", "categoryId": "shoes", "quantity": 2, "price": 9.5}]}
    [event] = await events(api, shop["key"])
    assert (event["type"], event["quantity"], event["price"]) == ("CART_ADD", 2, 9.5)


async def test_add_to_cart_defaults_to_quantity_one(api: Api, shop: dict) -> None:
    await track(api, "addToCart", ', categoryId: "shoes", productId: "p1"')
    found = await cart(api, shop["key"])
    assert found is not None
    assert [(i["productId"], i["quantity"], i["price"]) for i in found["items"]] == [
        ("p1", 1, None)]


async def test_remove_from_cart_takes_the_product_out(api: Api, shop: dict) -> None:
    await track(api, "addToCart", ', categoryId: "shoes", productId: "p1"')
    await track(api, "addToCart", ', categoryId: "hats", productId: "p2"')
    await track(api, "removeFromCart", ', productId: "p1"')
    found = await cart(api, shop["key"])
    assert found is not None
    assert [i["productId"] for i in found["items"]] == ["p2"]
    nodes = await events(api, shop["key"], ", types: [CART_REMOVE]")
    assert [e["productId"] for e in nodes] == ["p1"]


async def test_clear_cart_empties_it(api: Api, shop: dict) -> None:
    await track(api, "addToCart", ', categoryId: "shoes", productId: "p1"')
    await track(api, "clearCart")
    assert await cart(api, shop["key"]) == {"status": "EMPTY", "items": []}


async def test_complete_checkout_turns_the_cart_into_an_order(api: Api, shop: dict) -> None:
    await track(api, "login", ', userId: "alice"')
    await track(api, "addToCart", ', categoryId: "shoes", productId: "p1", quantity: 3, '
                "price: 5")
    await track(api, "completeCheckout", ', orderId: "o-1"')
    data = await api.data(
        '{ customer(shopId: 1, userId: "alice") { cart { status items { productId } } '
        "orders { orderId items { productId quantity price } } } }", key=shop["key"])
    assert data["customer"]["orders"] == [
        {"orderId": "o-1", "items": [{"productId": "p1", "quantity": 3, "price": 5.0}]}]
    assert data["customer"]["cart"] == {"status": "ORDERED", "items": []}
    [event] = await events(api, shop["key"], ", types: [CHECKOUT]")
    assert event["orderId"] == "o-1"


async def test_track_event_keeps_name_and_properties(api: Api, shop: dict) -> None:
    await api.data(
        "mutation($c: TrackContext!, $p: JSON) { trackEvent(context: $c, eventName: "
        f'"quiz_done", properties: $p) {RESULT} }}',
        {"c": ctx(), "p": {"score": 7, "tags": ["a", "b"], "nested": {"ok": True}}},
    )
    [event] = await events(api, shop["key"])
    assert event["type"] == "CUSTOM" and event["eventName"] == "quiz_done"
    assert event["properties"] == {"score": 7, "tags": ["a", "b"], "nested": {"ok": True}}


async def test_event_is_filed_under_the_named_source(api: Api, shop: dict) -> None:
    await api.data('mutation { addEventSource(shopId: 1, sourceId: "app", name: "App") '
                   "{ shopId } }", key=shop["key"])
    await track(api, "viewSection", ', pageName: "home"', sourceId="app")
    [event] = await events(api, shop["key"])
    assert event["sourceId"] == "app"


async def test_empty_source_id_means_the_default_source(api: Api, shop: dict) -> None:
    await track(api, "viewSection", ', pageName: "home"', sourceId="")
    [event] = await events(api, shop["key"])
    assert event["sourceId"] == shop["defaultSourceId"]


# -- the batch -----------------------------------------------------------------------


async def test_batch_applies_valid_items_around_a_bad_one(api: Api, shop: dict) -> None:
    body = await api.post(
        f"mutation($e: [TrackInput!]!) {{ track(events: $e) {RESULT} }}",
        {"e": [
            {"type": "VISIT", "context": ctx(event_id="a")},
            {"type": "CART_ADD", "productId": "p1", "context": ctx(event_id="b")},
            {"type": "SECTION_VIEW", "pageName": "faq", "context": ctx(event_id="c")},
        ]},
    )
    first, middle, last = body["data"]["track"]
    assert middle is None
    assert first["eventId"] == "a" and last["eventId"] == "c"
    [error] = body["errors"]
    assert error["path"] == ["track", 1]
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert [e["eventId"] for e in await events(api, shop["key"])] == ["c", "a"]


async def test_batch_items_share_a_session_in_order(api: Api, shop: dict, clock: FakeClock) -> None:
    data = await api.data(
        f"mutation($e: [TrackInput!]!) {{ track(events: $e) {RESULT} }}",
        {"e": [
            {"type": "CATEGORY_VIEW", "categoryId": "c1", "context": ctx(event_id="a")},
            {"type": "PRODUCT_VIEW", "categoryId": "c1", "productId": "p1",
             "context": ctx(event_id="b")},
            {"type": "CART_ADD", "categoryId": "c1", "productId": "p1", "quantity": 2,
             "context": ctx(event_id="c")},
        ]},
    )
    results = data["track"]
    assert [r["newSession"] for r in results] == [True, False, False]
    assert len({r["sessionId"] for r in results}) == 1
    [session] = await sessions(api, shop["key"])
    assert session["eventsCount"] == 3
    found = await cart(api, shop["key"])
    assert found is not None and found["items"][0]["quantity"] == 2


# -- duplicates ----------------------------------------------------------------------


async def test_same_event_id_twice_is_stored_once(api: Api, shop: dict) -> None:
    first = await track(api, "viewCategory", ', categoryId: "hats"', event_id="dup")
    again = await track(api, "viewCategory", ', categoryId: "hats"', event_id="dup")
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["sessionId"] == first["sessionId"]
    assert again["newSession"] is False
    assert [e["eventId"] for e in await events(api, shop["key"])] == ["dup"]
    [session] = await sessions(api, shop["key"])
    assert session["eventsCount"] == 1


async def test_duplicate_cart_add_does_not_add_quantity_again(api: Api, shop: dict) -> None:
    args = ', categoryId: "shoes", productId: "p1", quantity: 2'
    await track(api, "addToCart", args, event_id="add-1")
    again = await track(api, "addToCart", args, event_id="add-1")
    assert again["duplicate"] is True
    found = await cart(api, shop["key"])
    assert found is not None and found["items"][0]["quantity"] == 2


async def test_duplicate_inside_one_batch_is_stored_once(api: Api, shop: dict) -> None:
    item = {"type": "SECTION_VIEW", "pageName": "faq", "context": ctx(event_id="same")}
    data = await api.data(f"mutation($e: [TrackInput!]!) {{ track(events: $e) {RESULT} }}",
                          {"e": [item, item]})
    assert [r["duplicate"] for r in data["track"]] == [False, True]
    assert len(await events(api, shop["key"])) == 1
    [session] = await sessions(api, shop["key"])
    assert session["eventsCount"] == 1


async def test_duplicate_after_new_session_keeps_its_first_session(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    first = await track(api, "viewSection", ', pageName: "a"', event_id="x")
    clock.advance(hours=1)
    await track(api, "viewSection", ', pageName: "b"', event_id="y")
    again = await track(api, "viewSection", ', pageName: "a"', event_id="x")
    assert again["duplicate"] is True and again["sessionId"] == first["sessionId"]
    counts = sorted(s["eventsCount"] for s in await sessions(api, shop["key"]))
    assert counts == [1, 1]


# -- sessions through the API ----------------------------------------------------------


async def set_timeout(api: Api, key: str, seconds: int) -> None:
    await api.data(
        "mutation($s: ShopSettingsInput!) { updateShopSettings(shopId: 1, settings: $s) "
        "{ settings { sessionTimeoutSeconds } } }",
        {"s": {"sessionTimeoutSeconds": seconds}}, key=key)


async def test_event_after_the_timeout_opens_a_new_session(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await set_timeout(api, shop["key"], 5)
    first = await track(api, "viewSection", ', pageName: "a"')
    clock.advance(seconds=5)
    same = await track(api, "viewSection", ', pageName: "b"')
    clock.advance(seconds=6)
    later = await track(api, "viewSection", ', pageName: "c"')
    assert same["sessionId"] == first["sessionId"] and same["newSession"] is False
    assert later["sessionId"] != first["sessionId"] and later["newSession"] is True
    found = {s["sessionId"]: s["eventsCount"] for s in await sessions(api, shop["key"])}
    assert found == {first["sessionId"]: 2, later["sessionId"]: 1}


async def test_default_timeout_is_thirty_minutes(api: Api, shop: dict, clock: FakeClock) -> None:
    first = await track(api, "viewSection", ', pageName: "a"')
    clock.advance(seconds=1800)
    same = await track(api, "viewSection", ', pageName: "b"')
    clock.advance(seconds=1801)
    later = await track(api, "viewSection", ', pageName: "c"')
    assert same["sessionId"] == first["sessionId"]
    assert later["newSession"] is True


async def test_start_visit_opens_a_new_session_within_the_timeout(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    first = await track(api, "viewSection", ', pageName: "a"')
    clock.advance(seconds=10)
    visit = await track(api, "startVisit")
    assert visit["newSession"] is True and visit["sessionId"] != first["sessionId"]
    assert len(await sessions(api, shop["key"])) == 2


async def test_retried_start_visit_does_not_open_another_session(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    first = await track(api, "startVisit", event_id="visit-1")
    retried = await track(api, "startVisit", event_id="visit-1")
    same_time = await track(api, "startVisit", event_id="visit-2")
    assert retried["sessionId"] == first["sessionId"] and retried["newSession"] is False
    assert same_time["sessionId"] == first["sessionId"] and same_time["newSession"] is False
    [session] = await sessions(api, shop["key"])
    assert session["eventsCount"] == 2


async def test_sessions_are_per_visitor(api: Api, shop: dict) -> None:
    one = await track(api, "viewSection", ', pageName: "a"', visitor="v1")
    two = await track(api, "viewSection", ', pageName: "a"', visitor="v2")
    assert one["sessionId"] != two["sessionId"] and two["newSession"] is True


# -- a whole cart ----------------------------------------------------------------------


async def test_cart_through_add_remove_clear_and_checkout(api: Api, shop: dict) -> None:
    key = shop["key"]
    add = ', categoryId: "shoes", productId: "p1", quantity: 1, price: 10'
    await track(api, "addToCart", add)
    await track(api, "addToCart", add)
    await track(api, "addToCart", ', categoryId: "hats", productId: "p2", quantity: 4')
    found = await cart(api, key)
    assert found is not None
    assert {i["productId"]: i["quantity"] for i in found["items"]} == {"p1": 2, "p2": 4}
    await track(api, "removeFromCart", ', productId: "p2"')
    found = await cart(api, key)
    assert found is not None
    assert [(i["productId"], i["quantity"]) for i in found["items"]] == [("p1", 2)]
    await track(api, "clearCart")
    assert await cart(api, key) == {"status": "EMPTY", "items": []}
    await track(api, "addToCart", add)
    await track(api, "login", ', userId: "carol"')
    await track(api, "completeCheckout", ', orderId: "o-7"')
    data = await api.data(
        '{ customer(shopId: 1, userId: "carol") { cart { status items { productId } } '
        "orders { orderId items { productId quantity } } } }", key=key)
    assert data["customer"]["orders"] == [
        {"orderId": "o-7", "items": [{"productId": "p1", "quantity": 1}]}]
    assert data["customer"]["cart"]["items"] == []
    assert data["customer"]["cart"]["status"] in ("ORDERED", "EMPTY")


async def test_anonymous_checkout_empties_the_visitor_cart(api: Api, shop: dict) -> None:
    await track(api, "addToCart", ', categoryId: "shoes", productId: "p1"')
    await track(api, "completeCheckout", ', orderId: "o-1"')
    found = await cart(api, shop["key"])
    assert found is not None and found["items"] == []
    assert found["status"] == "ORDERED"


# -- clock skew ------------------------------------------------------------------------


async def test_future_occurred_at_is_clamped_to_receipt(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    now = clock.now()
    await track(api, "viewSection", ', pageName: "a"', occurredAt="2030-01-01T00:00:00Z")
    [event] = await events(api, shop["key"])
    assert event["occurredAt"] == now.isoformat()


async def test_past_occurred_at_is_kept(api: Api, shop: dict, clock: FakeClock) -> None:
    await track(api, "viewSection", ', pageName: "a"', occurredAt="2026-03-01T11:59:00Z")
    [event] = await events(api, shop["key"])
    assert event["occurredAt"] == "2026-03-01T11:59:00+00:00"


async def test_sent_at_shifts_occurred_at_by_the_client_offset(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    # The client's clock is two hours ahead: it saw the event 10 s before sending.
    data = await api.data(
        f"mutation($e: [TrackInput!]!, $s: DateTime) {{ track(events: $e, sentAt: $s) {RESULT} }}",
        {"e": [{"type": "SECTION_VIEW", "pageName": "a",
                "context": ctx(occurredAt="2026-03-01T13:59:50Z")}],
         "s": "2026-03-01T14:00:00Z"},
    )
    assert data["track"][0]["duplicate"] is False
    [event] = await events(api, shop["key"])
    assert event["occurredAt"] == "2026-03-01T11:59:50+00:00"


async def test_sent_at_in_the_context_shifts_occurred_at(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await track(api, "viewSection", ', pageName: "a"', occurredAt="2026-03-01T10:59:30Z",
                sentAt="2026-03-01T11:00:00Z")
    [event] = await events(api, shop["key"])
    assert event["occurredAt"] == "2026-03-01T11:59:30+00:00"


# -- the HTTP endpoint -----------------------------------------------------------------


async def test_text_plain_body_is_tracked(api: Api, shop: dict) -> None:
    body = ('{"query": "mutation { viewSection(context: {shopId: 1, visitorId: \\"v1\\", '
            'eventId: \\"beacon\\"}, pageName: \\"faq\\") { eventId } }"}')
    response = await api.http.post("/graphql", content=body,
                                   headers={"content-type": "text/plain;charset=UTF-8"})
    assert response.status_code == 200
    assert response.json() == {"data": {"viewSection": {"eventId": "beacon"}}}
    assert [e["eventId"] for e in await events(api, shop["key"])] == ["beacon"]


async def test_get_graphql_serves_graphiql(api: Api) -> None:
    response = await api.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_healthz_answers_ok(api: Api) -> None:
    response = await api.http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


MALFORMED = {
    "broken json": ("application/json", b'{"query": "{ shop'),
    "broken text/plain": ("text/plain", b"not json at all"),
    "empty": ("application/json", b""),
    "no query": ("application/json", b'{"variables": {}}'),
    "query not a string": ("application/json", b'{"query": 42}'),
    "a list": ("application/json", b"[1, 2]"),
    "bad utf-8": ("application/json", b'{"query": "\xff\xfe"}'),
    "nested too deeply": ("text/plain", b'{"query": "{ __typename }", "variables": {"p": '
                          + b"[" * 5000 + b"]" * 5000 + b"}}"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_body_is_a_coded_json_error(api: Api, name: str) -> None:
    content_type, content = MALFORMED[name]
    response = await api.http.post("/graphql", content=content,
                                   headers={"content-type": content_type})
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "Traceback" not in response.text


@pytest.mark.parametrize("query", [
    "{ shop(shopId: 1) { nope } }",
    "mutation { startVisit(context: {shopId: 1}) { eventId } }",
    "{ shop(shopId: 1) { shopId ",
])
async def test_invalid_document_is_bad_input(api: Api, shop: dict, query: str) -> None:
    body = await api.post(query, key=shop["key"])
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert not body.get("data")


async def test_deeply_nested_document_is_refused(api: Api, shop: dict) -> None:
    query = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType " \
            "{ ofType { ofType { ofType { name } } } } } } } } } } } }"
    body = await api.post(query, key=shop["key"])
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert not body.get("data")


async def test_session_last_event_time_follows_its_events(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    start = clock.now()
    await track(api, "viewSection", ', pageName: "a"')
    last = clock.advance(minutes=3)
    await track(api, "viewSection", ', pageName: "b"')
    data = await api.data("{ sessions(shopId: 1) { nodes { startedAt lastEventAt eventsCount } } }",
                          key=shop["key"])
    assert data["sessions"]["nodes"] == [{"startedAt": start.isoformat(),
                                          "lastEventAt": last.isoformat(), "eventsCount": 2}]


async def test_the_same_event_id_from_two_visitors_is_two_events(api: Api, shop: dict) -> None:
    """An event id is its visitor's own (tracker-made ids are per device): another
    visitor's same id is not a duplicate, and neither event is lost."""
    first = await track(api, "viewSection", ', pageName: "a"', visitor="v1", event_id="e1")
    second = await track(api, "viewSection", ', pageName: "b"', visitor="v2", event_id="e1")
    again = await track(api, "viewSection", ', pageName: "a"', visitor="v1", event_id="e1")
    assert (first["duplicate"], second["duplicate"], again["duplicate"]) == (False, False, True)
    stored = await events(api, shop["key"])
    assert sorted((e["visitorId"], e["eventId"], e["pageName"]) for e in stored) == [
        ("v1", "e1", "a"), ("v2", "e1", "b")]
