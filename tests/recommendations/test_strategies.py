"""Each strategy and each rule of CONTRACT.md section 13, through Query.recommendations."""

from __future__ import annotations

from app.core.clock import FakeClock
from tests.recommendations.shopping import buy, catalog, ids, recs, view
from tests.support.api import Api


async def test_also_viewed_ranks_by_sessions_that_viewed_both(api: Api, shop: dict) -> None:
    for s in range(3):
        await view(api, f"s{s}", "a", "b")
    await view(api, "t", "a", "c")
    await view(api, "u", "b", "d")  # not with a
    found = await recs(api, shop["key"], "ALSO_VIEWED", productId="a")
    assert ids(found)[:2] == ["b", "c"]
    assert found[0]["score"] > found[1]["score"] > 0
    assert "a" not in ids(found)  # never the product itself


async def test_viewing_a_product_again_does_not_count_its_session_twice(
        api: Api, shop: dict) -> None:
    await view(api, "s1", "a", "b", "a", "b")
    await view(api, "s2", "a", "c")
    await view(api, "s2", "a")  # later in the same session
    found = await recs(api, shop["key"], "ALSO_VIEWED", productId="a")
    assert found[0]["score"] == found[1]["score"]


async def test_also_bought_is_products_of_the_same_orders(api: Api, shop: dict) -> None:
    await buy(api, "b1", "a", "x")
    await buy(api, "b2", "a", "x")
    await buy(api, "b3", "a", "y")
    await view(api, "v", "a", "z")  # viewed together only
    found = await recs(api, shop["key"], "ALSO_BOUGHT", productId="a")
    assert ids(found)[:2] == ["x", "y"]
    assert "a" not in ids(found)


async def test_for_you_draws_from_the_customers_categories_and_leaves_out_what_they_bought(
        api: Api, shop: dict) -> None:
    await view(api, "others", "shoes/s1", "shoes/s2", "shoes/s3", "hats/h1", "hats/h2")
    await view(api, "me", "shoes/s1", "shoes/s2", user="ann")
    await buy(api, "me", "s2", category="shoes")
    found = await recs(api, shop["key"], "FOR_YOU", userId="ann", limit=3)
    assert "s2" not in ids(found)  # bought
    assert set(ids(found)) <= {"s1", "s3", "h1", "h2"}
    assert ids(found)[0] == "s1"  # the customer's own top product
    assert "s3" in ids(found)  # viewed with it, same category
    by_visitor = await recs(api, shop["key"], "FOR_YOU", visitorId="me", limit=3)
    assert ids(by_visitor) == ids(found)


async def test_an_anonymous_visitor_gets_products_viewed_with_its_own(
        api: Api, shop: dict) -> None:
    await view(api, "others", "a", "b")
    await view(api, "others2", "x", "y", "z")
    await view(api, "anon", "a")
    found = await recs(api, shop["key"], "FOR_YOU", visitorId="anon", limit=2)
    assert ids(found)[:2] == ["a", "b"]


async def test_without_history_for_you_is_popular(api: Api, shop: dict) -> None:
    await view(api, "v1", "p1", "p2")
    await view(api, "v2", "p1")
    popular = await recs(api, shop["key"], "POPULAR")
    assert ids(popular) == ["p1", "p2"]
    assert ids(await recs(api, shop["key"], "FOR_YOU", visitorId="new")) == ["p1", "p2"]
    assert ids(await recs(api, shop["key"], "FOR_YOU", userId="nobody")) == ["p1", "p2"]


async def test_popular_is_the_last_weeks_most_viewed_of_a_category(
        api: Api, shop: dict, clock: FakeClock) -> None:
    for v in range(3):
        await view(api, f"old{v}", "shoes/old")
    clock.advance(days=8)
    await view(api, "n1", "shoes/new", "hats/hat")
    await view(api, "n2", "hats/hat")
    assert ids(await recs(api, shop["key"], "POPULAR")) == ["hat", "new"]
    assert ids(await recs(api, shop["key"], "POPULAR", categoryId="shoes"))[0] == "new"


async def test_no_list_is_empty_while_the_shop_has_views(api: Api, shop: dict) -> None:
    assert await recs(api, shop["key"], "POPULAR") == []  # no views yet
    await view(api, "v1", "p1", "p2")
    assert ids(await recs(api, shop["key"], "ALSO_VIEWED", productId="unknown")) == ["p1", "p2"]
    assert ids(await recs(api, shop["key"], "ALSO_BOUGHT", productId="p1")) == ["p2"]


async def test_a_short_list_is_filled_up_to_the_limit_from_popular_after_its_own(
        api: Api, shop: dict) -> None:
    await view(api, "s1", "a", "b")
    await view(api, "s2", "c", "d")
    await view(api, "s3", "c", "d", "e")
    found = await recs(api, shop["key"], "ALSO_VIEWED", productId="a", limit=3)
    assert ids(found) == ["b", "c", "d"]  # its one pair, then the most viewed


async def test_a_product_the_catalog_marks_unavailable_is_never_recommended(
        api: Api, shop: dict, platform) -> None:
    await view(api, "v1", "a", "b", "c")
    await catalog(platform, {"productId": "b", "available": False}, {"productId": "c"})
    for strategy, args in [("ALSO_VIEWED", {"productId": "a"}), ("POPULAR", {}),
                           ("FOR_YOU", {"visitorId": "v1"})]:
        found = await recs(api, shop["key"], strategy, **args)
        assert "b" not in ids(found), strategy
    found = await recs(api, shop["key"], "ALSO_VIEWED", productId="a")
    assert found == [{"productId": "c", "score": found[0]["score"],
                      "product": {"productId": "c", "name": "C", "available": True}}]


async def test_wrong_arguments_are_bad_input_and_keys_are_checked(api: Api, shop: dict) -> None:
    q = "query($s: RecommendationStrategy!, $l: Int, $p: String) { recommendations(shopId: 1, " \
        "strategy: $s, limit: $l, productId: $p) { productId } }"
    for args in [{"s": "POPULAR", "l": 0}, {"s": "POPULAR", "l": 51}, {"s": "ALSO_VIEWED"},
                 {"s": "ALSO_BOUGHT"}, {"s": "FOR_YOU"}]:
        error = await api.error(q, args, key=shop["key"])
        assert error["extensions"]["code"] == "BAD_INPUT", args
    assert (await api.error(q, {"s": "POPULAR"}))["extensions"]["code"] == "UNAUTHENTICATED"
    other = await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    error = await api.error(q, {"s": "POPULAR"}, key=other["createShop"]["apiKey"])
    assert error["extensions"]["code"] == "FORBIDDEN"
