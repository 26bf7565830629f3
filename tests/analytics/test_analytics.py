"""The analytics queries over HTTP, against answers worked out by hand for a seeded shop.

The shop's history (imported with `occurredAt`, UTC, the clock at 2026-03-01 12:00):

    visitor va (anonymous)                  visitor vb
    02-27 22:10 VISIT          session A1
          22:15 view c1/p1
          22:50 view category c1  A2 (35 min quiet)
          23:05 view c1/p2
          23:10 cart add c1/p2
                                            23:40 view c2/p3       session B1
                                            23:55 login as ub (files the view above)
                                      02-28 00:10 view c1/p1
                                            00:20 cart add c1/p1
                                            00:25 checkout o1 -> ORDER_COMPLETED
    02-28 01:30 view c1/p1         A3
          01:31 custom event promo -> CUSTOM_EVENT
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.core.clock import FakeClock
from app.platform import Platform
from tests.support.api import ADMIN_KEY, Api, platform_on_a_fresh_store

IMPORT = "mutation($e: [TrackInput!]!) { importEvents(shopId: 1, events: $e) { eventId } }"
FIGURES = ("start visitors sessions identifiedVisitors productViews categoryViews cartAdds "
           "checkouts triggers")
STATS = ("query($from: DateTime!, $to: DateTime!, $i: StatsInterval) { stats(shopId: 1, "
         f"from: $from, to: $to, interval: $i) {{ buckets {{ {FIGURES} }} "
         f"totals {{ {FIGURES} }} }} }}")
TOP_PRODUCTS = ("query($from: DateTime!, $to: DateTime!, $n: Int) { topProducts(shopId: 1, "
                "from: $from, to: $to, limit: $n) { productId views cartAdds purchases } }")
TOP_CATEGORIES = ("query($from: DateTime!, $to: DateTime!, $n: Int) { topCategories(shopId: 1, "
                  "from: $from, to: $to, limit: $n) { categoryId views productViews cartAdds "
                  "purchases } }")
FUNNEL = ("query($from: DateTime!, $to: DateTime!) { funnel(shopId: 1, from: $from, to: $to) "
          "{ sessions withProductView withCartAdd withCheckout } }")


@pytest.fixture(params=["rollups", "recount"])
async def platform(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Platform]:
    """Every answer twice: from the rollups, and recounted from the raw events (the
    rollups off, TRACKER_ANALYTICS_ROLLUPS=0): the hand-computed answers hold for both."""
    rollups = request.param == "rollups"
    async with platform_on_a_fresh_store(clock, analytics_rollups=rollups) as started:
        yield started


def event(n: int, visitor: str, at: str, type_: str, **fields: Any) -> dict[str, Any]:
    context = {"shopId": 1, "visitorId": visitor, "eventId": f"e{n}", "occurredAt": at}
    return {"type": type_, "context": context, **fields}


HISTORY = [
    event(1, "va", "2026-02-27T22:10:00Z", "VISIT"),
    event(2, "va", "2026-02-27T22:15:00Z", "PRODUCT_VIEW", categoryId="c1", productId="p1"),
    event(3, "va", "2026-02-27T22:50:00Z", "CATEGORY_VIEW", categoryId="c1"),
    event(4, "va", "2026-02-27T23:05:00Z", "PRODUCT_VIEW", categoryId="c1", productId="p2"),
    event(5, "va", "2026-02-27T23:10:00Z", "CART_ADD", categoryId="c1", productId="p2"),
    event(6, "vb", "2026-02-27T23:40:00Z", "PRODUCT_VIEW", categoryId="c2", productId="p3"),
    event(7, "vb", "2026-02-27T23:55:00Z", "LOGIN", userId="ub"),
    event(8, "vb", "2026-02-28T00:10:00Z", "PRODUCT_VIEW", categoryId="c1", productId="p1"),
    event(9, "vb", "2026-02-28T00:20:00Z", "CART_ADD", categoryId="c1", productId="p1",
          quantity=2, price=5.0),
    event(10, "vb", "2026-02-28T00:25:00Z", "CHECKOUT", orderId="o1"),
    event(11, "va", "2026-02-28T01:30:00Z", "PRODUCT_VIEW", categoryId="c1", productId="p1"),
    event(12, "va", "2026-02-28T01:31:00Z", "CUSTOM", eventName="promo"),
]


def row(start: str, visitors: int = 0, sessions: int = 0, identified: int = 0, pv: int = 0,
        cv: int = 0, adds: int = 0, checkouts: int = 0, triggers: int = 0) -> dict[str, Any]:
    return {"start": start, "visitors": visitors, "sessions": sessions,
            "identifiedVisitors": identified, "productViews": pv, "categoryViews": cv,
            "cartAdds": adds, "checkouts": checkouts, "triggers": triggers}


@pytest.fixture
async def seeded(api: Api, shop: dict[str, Any]) -> dict[str, Any]:
    data = await api.data(IMPORT, {"e": HISTORY}, key=shop["key"])
    assert all(data["importEvents"]), data
    return shop


async def ask(api: Api, query: str, key: str, **variables: Any) -> dict[str, Any]:
    return await api.data(query, variables, key=key)


async def test_hour_buckets_across_a_day_boundary(api: Api, seeded: dict) -> None:
    data = await ask(api, STATS, seeded["key"], **{"from": "2026-02-27T22:00:00Z",
                                                   "to": "2026-02-28T02:00:00Z", "i": "HOUR"})
    assert data["stats"]["buckets"] == [
        row("2026-02-27T22:00:00+00:00", visitors=1, sessions=2, pv=1, cv=1),
        row("2026-02-27T23:00:00+00:00", visitors=2, sessions=1, identified=1, pv=2, adds=1),
        row("2026-02-28T00:00:00+00:00", visitors=1, identified=1, pv=1, adds=1, checkouts=1,
            triggers=1),
        row("2026-02-28T01:00:00+00:00", visitors=1, sessions=1, pv=1, triggers=1),
    ]
    # va is in three buckets and vb in two: two distinct visitors, not five.
    assert data["stats"]["totals"] == row("2026-02-27T22:00:00+00:00", visitors=2, sessions=4,
                                          identified=1, pv=5, cv=1, adds=2, checkouts=1,
                                          triggers=2)


async def test_day_buckets_count_visitors_once_per_day_and_once_in_total(
        api: Api, seeded: dict) -> None:
    data = await ask(api, STATS, seeded["key"], **{"from": "2026-02-27T00:00:00Z",
                                                   "to": "2026-03-01T00:00:00Z"})
    assert data["stats"]["buckets"] == [
        row("2026-02-27T00:00:00+00:00", visitors=2, sessions=3, identified=1, pv=3, cv=1,
            adds=1),
        row("2026-02-28T00:00:00+00:00", visitors=2, sessions=1, identified=1, pv=2, adds=1,
            checkouts=1, triggers=2),
    ]
    assert data["stats"]["totals"]["visitors"] == 2
    assert data["stats"]["totals"]["identifiedVisitors"] == 1


async def test_a_range_starting_mid_hour_counts_only_from_its_start(
        api: Api, seeded: dict) -> None:
    data = await ask(api, STATS, seeded["key"], **{"from": "2026-02-27T22:30:00Z",
                                                   "to": "2026-02-27T23:30:00Z", "i": "HOUR"})
    assert data["stats"]["buckets"] == [
        row("2026-02-27T22:00:00+00:00", visitors=1, sessions=1, cv=1),
        row("2026-02-27T23:00:00+00:00", visitors=1, pv=1, adds=1),
    ]


async def test_top_products_by_views_with_cart_adds_and_purchases(
        api: Api, seeded: dict) -> None:
    span = {"from": "2026-02-27T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    data = await ask(api, TOP_PRODUCTS, seeded["key"], **span)
    assert data["topProducts"] == [
        {"productId": "p1", "views": 3, "cartAdds": 1, "purchases": 1},
        {"productId": "p2", "views": 1, "cartAdds": 1, "purchases": 0},
        {"productId": "p3", "views": 1, "cartAdds": 0, "purchases": 0},
    ]
    data = await ask(api, TOP_PRODUCTS, seeded["key"], n=1, **span)
    assert [p["productId"] for p in data["topProducts"]] == ["p1"]


UPSERT = "mutation($o: [OrderInput!]!) { upsertOrders(shopId: 1, orders: $o) }"


def _bought(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {r["productId"]: r["purchases"] for r in rows}


async def test_purchases_follow_an_order_changed_later_and_whole_days_read_no_order(
        api: Api, seeded: dict, platform: Platform) -> None:
    key, span = seeded["key"], {"from": "2026-02-27T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    order = {"orderId": "crm-9", "userId": "ub", "placedAt": "2026-02-28T10:00:00Z",
             "items": [{"productId": "p1", "quantity": 1}, {"productId": "p2", "quantity": 1},
                       {"productId": "p2", "quantity": 4}]}
    await api.data(UPSERT, {"o": [order]}, key=key)
    data = await ask(api, TOP_PRODUCTS, key, **span)  # the new order folded first
    assert _bought(data["topProducts"]) == {"p1": 2, "p2": 2, "p3": 0}  # lines, not units
    platform.storage.trips.reset()
    again = await ask(api, TOP_PRODUCTS, key, **span)
    assert again == data
    if platform.settings.analytics_rollups:  # whole days: the day buckets, not the orders
        assert platform.storage.trips.documents_by_collection.get("orders", 0) == 0
    await api.data(UPSERT, {"o": [{**order, "items": [{"productId": "p3", "quantity": 1}]}]},
                   key=key)
    data = await ask(api, TOP_PRODUCTS, key, **span)
    assert _bought(data["topProducts"]) == {"p1": 1, "p2": 0, "p3": 1}
    # A range ending mid-day: the edge's orders are read, up to its end only.
    data = await ask(api, TOP_PRODUCTS, key, **{"from": "2026-02-27T00:00:00Z",
                                                 "to": "2026-02-28T09:00:00Z"})
    assert _bought(data["topProducts"]) == {"p1": 1, "p2": 0, "p3": 0}


async def test_top_categories(api: Api, seeded: dict) -> None:
    data = await ask(api, TOP_CATEGORIES, seeded["key"], **{"from": "2026-02-27T00:00:00Z",
                                                            "to": "2026-03-01T00:00:00Z"})
    assert data["topCategories"] == [
        {"categoryId": "c1", "views": 1, "productViews": 4, "cartAdds": 2, "purchases": 1},
        {"categoryId": "c2", "views": 0, "productViews": 1, "cartAdds": 0, "purchases": 0},
    ]


# Ids a shop may use that a storage path would misread: a dot, a dollar, a percent sign,
# all digits (an array position), and others.
ODD_IDS = ["a.b", "$set", "50%", "%2E", "12", "~x", "a:b", "ключ"]


async def test_top_lists_keep_product_and_category_ids_that_look_like_paths(
        api: Api, shop: dict) -> None:
    events = [event(100 + n, f"v{n}", "2026-02-27T10:00:00Z", "PRODUCT_VIEW",
                    categoryId=f"c{odd}", productId=odd)
              for n, odd in enumerate(ODD_IDS) for _ in range(n + 1)]
    events += [event(200 + n, "w", "2026-02-27T11:00:00Z", "CART_ADD", categoryId=f"c{odd}",
                     productId=odd) for n, odd in enumerate(ODD_IDS)]
    for n, e in enumerate(events):
        e["context"]["eventId"] = f"odd{n}"
    await api.data(IMPORT, {"e": events}, key=shop["key"])
    span = {"from": "2026-02-27T00:00:00Z", "to": "2026-02-28T00:00:00Z"}
    products = (await ask(api, TOP_PRODUCTS, shop["key"], n=20, **span))["topProducts"]
    assert products == [{"productId": odd, "views": n + 1, "cartAdds": 1, "purchases": 0}
                        for n, odd in reversed(list(enumerate(ODD_IDS)))]
    categories = (await ask(api, TOP_CATEGORIES, shop["key"], n=20, **span))["topCategories"]
    assert categories == [{"categoryId": f"c{odd}", "views": 0, "productViews": n + 1,
                           "cartAdds": 1, "purchases": 0}
                          for n, odd in reversed(list(enumerate(ODD_IDS)))]


async def test_funnel_counts_sessions_started_in_the_range(api: Api, seeded: dict) -> None:
    whole = await ask(api, FUNNEL, seeded["key"], **{"from": "2026-02-27T22:00:00Z",
                                                     "to": "2026-02-28T02:00:00Z"})
    assert whole["funnel"] == {"sessions": 4, "withProductView": 4, "withCartAdd": 2,
                               "withCheckout": 1}
    # A2 began at 22:50: its view and cart add at 23:05 and 23:10 are not counted.
    later = await ask(api, FUNNEL, seeded["key"], **{"from": "2026-02-27T23:00:00Z",
                                                     "to": "2026-02-28T02:00:00Z"})
    assert later["funnel"] == {"sessions": 2, "withProductView": 2, "withCartAdd": 1,
                               "withCheckout": 1}


async def test_an_empty_range_is_all_zeros(api: Api, shop: dict) -> None:
    data = await ask(api, STATS, shop["key"], **{"from": "2026-01-01T00:00:00Z",
                                                 "to": "2026-01-03T00:00:00Z"})
    assert data["stats"]["buckets"] == [row("2026-01-01T00:00:00+00:00"),
                                        row("2026-01-02T00:00:00+00:00")]
    data = await ask(api, FUNNEL, shop["key"], **{"from": "2026-01-01T00:00:00Z",
                                                  "to": "2026-01-03T00:00:00Z"})
    assert data["funnel"] == {"sessions": 0, "withProductView": 0, "withCartAdd": 0,
                              "withCheckout": 0}


async def test_the_edges_of_the_calendar(api: Api, shop: dict) -> None:
    first = await ask(api, STATS, shop["key"], **{"from": "0001-01-01T00:00:00Z",
                                                  "to": "0001-01-02T00:00:00Z"})
    assert first["stats"]["buckets"] == [row("0001-01-01T00:00:00+00:00")]
    last = await ask(api, STATS, shop["key"], **{"from": "9999-12-31T00:00:00Z",
                                                 "to": "9999-12-31T23:59:59.999Z", "i": "HOUR"})
    assert len(last["stats"]["buckets"]) == 24
    funnel = await ask(api, FUNNEL, shop["key"], **{"from": "9999-01-01T00:00:00Z",
                                                    "to": "9999-12-31T23:59:59Z"})
    assert funnel["funnel"]["sessions"] == 0


@pytest.mark.parametrize(("query", "variables", "field"), [
    (STATS, {"from": "2026-02-02T00:00:00Z", "to": "2026-02-01T00:00:00Z"}, "from"),
    (STATS, {"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}, "from"),
    (STATS, {"from": "2025-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"}, "to"),  # 367 days
    (STATS, {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T01:00:00Z", "i": "HOUR"}, "to"),
    (STATS, {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T00:00:00Z"}, "to"),
    (STATS, {"from": "0001-01-01T00:00:00+01:00", "to": "2026-01-01T00:00:00Z"}, "from"),
    (TOP_PRODUCTS, {"from": "2025-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"}, "to"),
    (TOP_PRODUCTS, {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "n": 0},
     "limit"),
    (TOP_CATEGORIES, {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z",
                      "n": 101}, "limit"),
    (FUNNEL, {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
])
async def test_bad_ranges_and_limits_are_bad_input(
        api: Api, shop: dict, query: str, variables: dict, field: str) -> None:
    error = await api.error(query, variables, key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT", error
    assert error["extensions"]["field"] == field


async def test_a_huge_limit_is_bad_input(api: Api, shop: dict) -> None:
    error = await api.error(TOP_CATEGORIES, {"from": "2026-01-01T00:00:00Z",
                                             "to": "2026-01-02T00:00:00Z", "n": 2**31 - 1},
                            key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT", error


async def test_the_widest_ranges_allowed(api: Api, shop: dict) -> None:
    days = await ask(api, STATS, shop["key"], **{"from": "2025-01-01T00:00:00Z",
                                                 "to": "2026-01-02T00:00:00Z"})
    assert len(days["stats"]["buckets"]) == 366
    hours = await ask(api, STATS, shop["key"], **{"from": "2026-01-01T00:00:00Z",
                                                  "to": "2026-02-01T00:00:00Z", "i": "HOUR"})
    assert len(hours["stats"]["buckets"]) == 744


async def test_a_key_reads_only_its_own_shop(api: Api, seeded: dict) -> None:
    span = {"from": "2026-02-27T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    error = await api.error(FUNNEL, span)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    other = await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    error = await api.error(TOP_PRODUCTS, span, key=other["createShop"]["apiKey"])
    assert error["extensions"]["code"] == "FORBIDDEN"
    data = await api.data(TOP_PRODUCTS, span, key=ADMIN_KEY)
    assert data["topProducts"][0]["productId"] == "p1"


async def _overview_cost(api: Api, key: str, platform: Any) -> tuple[dict, dict]:
    """Round trips and documents read by the overview's four queries, by collection."""
    span = {"from": "2026-02-27T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    trips = platform.storage.trips
    trips.reset()
    await ask(api, STATS, key, i="HOUR", **span)
    await ask(api, STATS, key, **span)
    await ask(api, TOP_PRODUCTS, key, **span)
    await ask(api, TOP_CATEGORIES, key, **span)
    await ask(api, FUNNEL, key, **span)
    calls, docs = dict(trips.by_collection), dict(trips.documents_by_collection)
    for cost in (calls, docs):
        cost.pop("shops", None)  # the key's shop, when not cached
    return calls, docs


async def test_the_overview_costs_the_same_however_many_events_it_counts(
        api: Api, seeded: dict, platform: Any) -> None:
    """Rollups: what the overview reads grows with buckets and items, not with events."""
    if not platform.settings.analytics_rollups:
        pytest.skip("the recount reads the events: its cost is bench row 23's baseline")
    await _overview_cost(api, seeded["key"], platform)  # folds the history
    before = await _overview_cost(api, seeded["key"], platform)
    more = [event(100 + n, f"v{n % 7}", f"2026-02-27T{10 + n % 12:02d}:{n % 60:02d}:00Z",
                  "PRODUCT_VIEW", categoryId="c1", productId="p1") for n in range(300)]
    await api.data(IMPORT, {"e": more[:100]}, key=seeded["key"])
    await api.data(IMPORT, {"e": more[100:200]}, key=seeded["key"])
    await api.data(IMPORT, {"e": more[200:]}, key=seeded["key"])
    await _overview_cost(api, seeded["key"], platform)  # folds the 300 events
    calls, docs = await _overview_cost(api, seeded["key"], platform)
    assert calls == before[0]
    assert docs["events"] == docs["sessions"] == docs["triggers"] == 0  # all folded before
    assert docs["orders"] == before[1]["orders"]
    # The 12 hours that gained traffic add their documents, once per query reading hours.
    grown = docs["rollups"] + docs["performance"] - before[1]["rollups"] - before[1]["performance"]
    assert 0 < grown <= 4 * 12


async def test_a_session_with_three_cart_adds_counts_once_in_the_funnel(
    api: Api, shop: dict
) -> None:
    history = [event(n, "vc", f"2026-02-27T10:{n:02d}:00Z", type_, categoryId="c1",
                     productId=f"p{n}")
               for n, type_ in ((1, "PRODUCT_VIEW"), (2, "PRODUCT_VIEW"), (3, "CART_ADD"),
                                (4, "CART_ADD"), (5, "CART_ADD"))]
    history.append(event(6, "vc", "2026-02-27T10:06:00Z", "CHECKOUT", orderId="o9"))
    history.append(event(7, "vc", "2026-02-27T10:07:00Z", "CHECKOUT", orderId="o10"))
    await api.data(IMPORT, {"e": history}, key=shop["key"])
    data = await ask(api, FUNNEL, shop["key"], **{"from": "2026-02-27T00:00:00Z",
                                                  "to": "2026-02-28T00:00:00Z"})
    assert data["funnel"] == {"sessions": 1, "withProductView": 1, "withCartAdd": 1,
                              "withCheckout": 1}


@pytest.mark.parametrize("listed", [5, 1000])
async def test_visitors_beyond_the_exact_lists_are_estimated_from_the_registers(
        api: Api, shop: dict, platform: Platform, listed: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Each day's bucket lists its first `listed` visitors (folds.PUSH_LIMIT); a union of
    # days whose lists are short is the HyperLogLog estimate of their registers, exact at
    # this size. Small buckets come whole with their counts: the report reads the rollups
    # in two finds side by side (buckets keeping dense sketches, and the others), no more.
    from app.backends import folds

    monkeypatch.setattr(folds, "PUSH_LIMIT", listed)
    days = {"2026-02-26": range(0, 12), "2026-02-27": range(6, 18)}  # 18 visitors, 6 twice
    history = [event(i * 100 + n, f"v{n}", f"{day}T10:{n:02d}:00Z", "VISIT")
               for i, (day, who) in enumerate(days.items()) for n in who]
    assert all((await api.data(IMPORT, {"e": history}, key=shop["key"]))["importEvents"])
    span = {"from": "2026-02-26T00:00:00Z", "to": "2026-02-28T00:00:00Z"}
    await ask(api, STATS, shop["key"], **span)  # folded: the next one only reads
    platform.storage.trips.reset()
    data = await ask(api, STATS, shop["key"], **span)
    assert [b["visitors"] for b in data["stats"]["buckets"]] == [12, 12]
    assert data["stats"]["totals"]["visitors"] == 18
    if platform.settings.analytics_rollups:
        rollup_reads = platform.storage.trips.by_collection.get("rollups", 0)
        assert rollup_reads == 2
