"""The reading queries over HTTP: what they return, their pages, and who may read them."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.clock import FakeClock
from tests.support.api import ADMIN_KEY, Api

BATCH = "mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }"


def ctx(visitor: str = "v1", **more: Any) -> dict[str, Any]:
    return {"shopId": 1, "visitorId": visitor, **more}


async def send(api: Api, *events: dict[str, Any]) -> None:
    data = await api.data(BATCH, {"e": list(events)})
    assert all(data["track"]), data


def view(event_id: str, visitor: str = "v1", **more: Any) -> dict[str, Any]:
    return {"type": "SECTION_VIEW", "pageName": "p", "context": ctx(visitor, eventId=event_id,
                                                                    **more)}


def login(user: str, visitor: str) -> dict[str, Any]:
    return {"type": "LOGIN", "userId": user, "context": ctx(visitor)}


@pytest.fixture
async def other(api: Api) -> dict[str, Any]:
    """A second shop, 2, with its key."""
    data = await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    return {"shopId": 2, "key": data["createShop"]["apiKey"]}


# -- the queries -----------------------------------------------------------------------


async def test_shop_query_shows_defaults(api: Api, shop: dict) -> None:
    data = await api.data(
        "{ shop(shopId: 1) { shopId name defaultSourceId identifySecret "
        "sources { sourceId name domain active } settings { sessionTimeoutSeconds "
        "abandonedCartDelaySeconds anonymousHistoryDays allowedOrigins requireSignedIdentify } "
        "} }", key=shop["key"])
    found = data["shop"]
    assert found["shopId"] == 1 and found["name"] == "Test shop"
    assert found["identifySecret"] == shop["identifySecret"]
    assert [s["sourceId"] for s in found["sources"]] == [found["defaultSourceId"]]
    assert found["sources"][0]["active"] is True
    assert found["settings"] == {"sessionTimeoutSeconds": 1800,
                                 "abandonedCartDelaySeconds": 3600,
                                 "anonymousHistoryDays": 60, "allowedOrigins": [],
                                 "requireSignedIdentify": False}


async def test_unknown_things_read_as_null(api: Api, shop: dict) -> None:
    data = await api.data(
        '{ shop(shopId: 77) { shopId } customer(shopId: 1, userId: "nobody") { userId } '
        'visitor(shopId: 1, visitorId: "nobody") { visitorId } '
        'cart(shopId: 1, visitorId: "nobody") { status } }', key=ADMIN_KEY)
    assert data == {"shop": None, "customer": None, "visitor": None, "cart": None}


async def test_visitor_shows_first_and_last_seen(api: Api, shop: dict, clock: FakeClock) -> None:
    first = clock.now()
    await send(api, view("a"))
    last = clock.advance(minutes=5)
    await send(api, view("b"))
    data = await api.data('{ visitor(shopId: 1, visitorId: "v1") { visitorId userId '
                          "firstSeenAt lastSeenAt } }", key=shop["key"])
    assert data["visitor"] == {"visitorId": "v1", "userId": None,
                               "firstSeenAt": first.isoformat(), "lastSeenAt": last.isoformat()}


async def test_customer_shows_its_devices(api: Api, shop: dict, clock: FakeClock) -> None:
    first = clock.now()
    await send(api, login("alice", "phone"))
    last = clock.advance(minutes=1)
    await send(api, login("alice", "laptop"))
    data = await api.data('{ customer(shopId: 1, userId: "alice") { userId visitorIds '
                          "firstSeenAt lastSeenAt } }", key=shop["key"])
    customer = data["customer"]
    assert sorted(customer["visitorIds"]) == ["laptop", "phone"]
    assert customer["firstSeenAt"] == first.isoformat()
    assert customer["lastSeenAt"] == last.isoformat()


async def test_events_are_newest_first_and_filter_by_type_and_owner(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await send(api, view("a", "v1"))
    clock.advance(seconds=1)
    await send(api, {"type": "CATEGORY_VIEW", "categoryId": "c", "context": ctx("v2",
                                                                              eventId="b")})
    clock.advance(seconds=1)
    await send(api, view("c", "v1"), login("alice", "v1"))
    key = shop["key"]

    async def ids(filters: str) -> list[str]:
        data = await api.data(f"{{ events(shopId: 1{filters}) {{ nodes {{ eventId }} }} }}",
                              key=key)
        return [e["eventId"] for e in data["events"]["nodes"] if e["eventId"] in {"a", "b", "c"}]

    assert await ids("") == ["c", "b", "a"]
    assert await ids(', visitorId: "v1"') == ["c", "a"]
    assert await ids(", types: [CATEGORY_VIEW]") == ["b"]
    assert await ids(", types: [CATEGORY_VIEW, SECTION_VIEW]") == ["c", "b", "a"]
    assert await ids(', userId: "alice"') == ["c", "a"]


async def test_sessions_filter_by_visitor_and_customer(api: Api, shop: dict) -> None:
    await send(api, view("a", "v1"), view("b", "v2"), login("bob", "v2"))
    key = shop["key"]
    data = await api.data('{ mine: sessions(shopId: 1, userId: "bob") { nodes { visitorId '
                          'userId eventsCount } } all: sessions(shopId: 1) { nodes { visitorId } '
                          '} one: sessions(shopId: 1, visitorId: "v1") { nodes { visitorId } } }',
                          key=key)
    assert data["mine"]["nodes"] == [{"visitorId": "v2", "userId": "bob", "eventsCount": 2}]
    assert sorted(s["visitorId"] for s in data["all"]["nodes"]) == ["v1", "v2"]
    assert data["one"]["nodes"] == [{"visitorId": "v1"}]


async def test_cart_by_customer_or_visitor(api: Api, shop: dict) -> None:
    await send(api, login("alice", "v1"),
               {"type": "CART_ADD", "categoryId": "c", "productId": "p", "context": ctx()})
    data = await api.data('{ byUser: cart(shopId: 1, userId: "alice") { items { productId } } '
                          'byVisitor: cart(shopId: 1, visitorId: "v1") { items { productId } } }',
                          key=shop["key"])
    assert data["byUser"] == data["byVisitor"] == {"items": [{"productId": "p"}]}


async def test_cart_needs_user_or_visitor(api: Api, shop: dict) -> None:
    error = await api.error("{ cart(shopId: 1) { status } }", key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"


async def test_shop_key_sees_only_its_shop_data(api: Api, shop: dict, other: dict) -> None:
    await send(api, view("a"))
    data = await api.data("{ events(shopId: 2) { nodes { eventId } } }", key=other["key"])
    assert data["events"]["nodes"] == []


# -- pages -----------------------------------------------------------------------------

PAGE = "{{ {what}(shopId: 1, first: {first}, after: $after) {{ nodes {{ {id} }} " \
       "pageInfo {{ hasNextPage endCursor }} }} }}"


async def page(api: Api, key: str, what: str, id_field: str, first: int,
               after: str | None) -> tuple[list[str], dict[str, Any]]:
    query = "query($after: String) " + PAGE.format(what=what, first=first, id=id_field)
    data = (await api.data(query, {"after": after}, key=key))[what]
    return [n[id_field] for n in data["nodes"]], data["pageInfo"]


async def test_events_page_through_in_order(api: Api, shop: dict, clock: FakeClock) -> None:
    for i in range(5):
        await send(api, view(f"e{i}"))
        clock.advance(seconds=1)
    first, info = await page(api, shop["key"], "events", "eventId", 2, None)
    assert first == ["e4", "e3"] and info["hasNextPage"] is True
    second, info = await page(api, shop["key"], "events", "eventId", 2, info["endCursor"])
    assert second == ["e2", "e1"] and info["hasNextPage"] is True
    third, info = await page(api, shop["key"], "events", "eventId", 2, info["endCursor"])
    assert third == ["e0"] and info["hasNextPage"] is False


async def test_events_pages_stay_right_while_events_arrive(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    for i in range(4):
        await send(api, view(f"old{i}", f"v{i}"))
        clock.advance(seconds=1)
    tied = clock.now().isoformat()  # four events at the very same millisecond
    await send(api, *[view(f"tie{i}", f"t{i}") for i in range(4)])
    seen: list[str] = []
    after = None
    for n in range(10):
        ids, info = await page(api, shop["key"], "events", "eventId", 3, after)
        seen += ids
        # Between pages: a newer event, and one at the time the first page ended on.
        clock.advance(seconds=1)
        await send(api, view(f"new{n}", "late"), view(f"tie{n}x", "late", occurredAt=tied))
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert len(seen) == len(set(seen)), seen
    assert [i for i in seen if i.startswith(("old", "tie")) and len(i) == 4] == [
        "tie3", "tie2", "tie1", "tie0", "old3", "old2", "old1", "old0"]
    assert not any(i.startswith("new") for i in seen[3:])


async def test_sessions_pages_stay_right_while_sessions_open(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    for i in range(5):
        await send(api, view(f"e{i}", f"v{i}"))
        clock.advance(seconds=1)
    first, info = await page(api, shop["key"], "sessions", "visitorId", 2, None)
    assert first == ["v4", "v3"]
    await send(api, view("n1", "w1"), view("n2", "v3"))  # a new session; one continues
    second, info = await page(api, shop["key"], "sessions", "visitorId", 2, info["endCursor"])
    assert second == ["v2", "v1"]
    third, info = await page(api, shop["key"], "sessions", "visitorId", 2, info["endCursor"])
    assert third == ["v0"] and info["hasNextPage"] is False


async def test_customers_pages_stay_right_while_customers_arrive(api: Api, shop: dict) -> None:
    await send(api, *[login(f"user{i}", f"v{i}") for i in (1, 3, 5, 7)])
    first, info = await page(api, shop["key"], "customers", "userId", 2, None)
    assert first == ["user1", "user3"]
    await send(api, login("user0", "w0"), login("user4", "w4"), login("user9", "w9"))
    rest: list[str] = []
    while info["hasNextPage"]:
        ids, info = await page(api, shop["key"], "customers", "userId", 2, info["endCursor"])
        rest += ids
    assert rest == ["user4", "user5", "user7", "user9"]


async def test_empty_page_has_no_cursor(api: Api, shop: dict) -> None:
    ids, info = await page(api, shop["key"], "events", "eventId", 5, None)
    assert ids == [] and info == {"hasNextPage": False, "endCursor": None}


@pytest.mark.parametrize("first", [0, -1, 501])
async def test_page_size_out_of_range_is_bad_input(api: Api, shop: dict, first: int) -> None:
    error = await api.error(f"{{ events(shopId: 1, first: {first}) {{ nodes {{ eventId }} }} }}",
                            key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"


async def test_made_up_cursor_is_bad_input(api: Api, shop: dict) -> None:
    error = await api.error('{ sessions(shopId: 1, after: "not-a-cursor") { nodes { sessionId '
                            "} } }", key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"


# -- who may read ----------------------------------------------------------------------

QUERIES = {
    "shop": "{ shop(shopId: 1) { shopId } }",
    "customer": '{ customer(shopId: 1, userId: "alice") { userId } }',
    "customers": "{ customers(shopId: 1) { nodes { userId } } }",
    "visitor": '{ visitor(shopId: 1, visitorId: "v1") { visitorId } }',
    "sessions": "{ sessions(shopId: 1) { nodes { sessionId } } }",
    "events": "{ events(shopId: 1) { nodes { eventId } } }",
    "interestMap": '{ interestMap(shopId: 1, userId: "alice") { categories { categoryId } } }',
    "cart": '{ cart(shopId: 1, visitorId: "v1") { status } }',
    "triggers": "{ triggers(shopId: 1) { nodes { triggerId } } }",
}

WRONG_KEYS = {
    "none": None,
    "forged shop key": "sk_1_not-the-real-key",
    "garbage": "letmein",
}


def no_data(body: dict[str, Any]) -> bool:
    data = body.get("data")
    return data is None or all(v is None for v in data.values())


@pytest.fixture
async def tracked(api: Api, shop: dict) -> None:
    await send(api, login("alice", "v1"),
               {"type": "CART_ADD", "categoryId": "c", "productId": "p", "context": ctx()})


@pytest.mark.parametrize("name", list(QUERIES))
@pytest.mark.parametrize("how", list(WRONG_KEYS))
async def test_query_without_a_valid_key_is_unauthenticated(
    api: Api, tracked: None, name: str, how: str
) -> None:
    body = await api.post(QUERIES[name], key=WRONG_KEYS[how])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert no_data(body), body


@pytest.mark.parametrize("name", list(QUERIES))
async def test_query_with_a_non_bearer_header_is_unauthenticated(
    api: Api, shop: dict, tracked: None, name: str
) -> None:
    body = await api.post(QUERIES[name], headers={"authorization": f"Basic {shop['key']}"})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert no_data(body), body


@pytest.mark.parametrize("name", list(QUERIES))
async def test_query_with_another_shops_key_is_forbidden(
    api: Api, other: dict, tracked: None, name: str
) -> None:
    body = await api.post(QUERIES[name], key=other["key"])
    error = body["errors"][0]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "shop 1" in error["message"]
    assert no_data(body), body


@pytest.mark.parametrize("name", list(QUERIES))
@pytest.mark.parametrize("who", ["admin", "shop"])
async def test_query_with_admin_or_own_key_answers(
    api: Api, shop: dict, tracked: None, name: str, who: str
) -> None:
    body = await api.post(QUERIES[name], key=ADMIN_KEY if who == "admin" else shop["key"])
    assert not body.get("errors"), body
    assert body["data"][name] is not None


async def test_one_forbidden_field_leaks_nothing_of_the_others(
    api: Api, other: dict, tracked: None
) -> None:
    body = await api.post("{ events(shopId: 1) { nodes { eventId } } "
                          "mine: events(shopId: 2) { nodes { eventId } } }", key=other["key"])
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["data"] is None


async def test_a_page_that_ends_on_the_last_item_has_no_next_page(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await send(api, *[login(f"user{i}", f"v{i}") for i in range(3)])
    for what, id_field in (("events", "eventId"), ("sessions", "visitorId"),
                           ("customers", "userId")):
        ids, info = await page(api, shop["key"], what, id_field, 3, None)
        assert len(ids) == 3 and info["hasNextPage"] is False, what
        ids, info = await page(api, shop["key"], what, id_field, 2, None)
        assert len(ids) == 2 and info["hasNextPage"] is True, what


async def test_a_customer_was_last_seen_when_its_latest_device_was(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await send(api, login("alice", "phone"), login("alice", "laptop"), login("alice", "tablet"))
    clock.advance(minutes=5)
    await send(api, view("l1", "laptop"))
    latest = clock.advance(minutes=5)
    await send(api, view("p1", "phone"))
    clock.advance(minutes=5)  # the reading happens later: lastSeenAt is not "now"
    data = await api.data('{ customer(shopId: 1, userId: "alice") { lastSeenAt } '
                          'customers(shopId: 1) { nodes { userId lastSeenAt } } }',
                          key=shop["key"])
    assert data["customer"]["lastSeenAt"] == latest.isoformat()
    assert data["customers"]["nodes"] == [{"userId": "alice", "lastSeenAt": latest.isoformat()}]
