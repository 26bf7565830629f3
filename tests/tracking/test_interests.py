"""Interest maps: weights, 30-day half-life decay, ordering, custom weights, filing.

score(now) = sum of weight_i * 2 ** (-(now - t_i) / 30 days), kept as a forward-decayed
sum (app/interests.py) and read through `interestMap` / `Customer.interestMap`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import interests
from app.core.clock import FakeClock
from app.shops.settings import DEFAULT_WEIGHTS
from tests.support.api import Api

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HALF_LIFE = timedelta(days=30)

MAP = """query($u: String!, $l: Int) { interestMap(shopId: 1, userId: $u, limit: $l) {
  categories { categoryId score views productViews cartAdds purchases lastInteractionAt }
  products { productId categoryId score views cartAdds purchases lastInteractionAt } } }"""


# -- the formula (domain) -----------------------------------------------------------


def score_of(deltas: list[interests.Delta], now: datetime) -> float:
    return interests.score(sum(d.decayed for d in deltas), now)


def test_fresh_interaction_scores_its_weight() -> None:
    [delta] = interests.interactions("categoryView", "c1", None, T, {"categoryView": 3.0})
    assert interests.score(delta.decayed, T) == pytest.approx(3.0, rel=1e-12)


def test_score_halves_every_30_days() -> None:
    [delta] = interests.interactions("categoryView", "c1", None, T, {"categoryView": 1.0})
    assert interests.score(delta.decayed, T + HALF_LIFE) == pytest.approx(0.5, rel=1e-12)
    assert interests.score(delta.decayed, T + 2 * HALF_LIFE) == pytest.approx(0.25, rel=1e-12)
    assert interests.score(delta.decayed, T + HALF_LIFE / 2) == \
        pytest.approx(2 ** -0.5, rel=1e-12)


def test_scores_of_interactions_add_up_each_with_its_own_age() -> None:
    w = {"categoryView": 1.0}
    deltas = (interests.interactions("categoryView", "c1", None, T - HALF_LIFE, w)
              + interests.interactions("categoryView", "c1", None, T, w))
    assert score_of(deltas, T) == pytest.approx(1.5, rel=1e-12)


@pytest.mark.parametrize(("kind", "product", "category"), [
    ("productView", 2.0, 1.0),
    ("cartAdd", 5.0, 2.0),
    ("purchase", 10.0, 4.0),
])
def test_default_weights(kind: str, product: float, category: float) -> None:
    deltas = interests.interactions(kind, "c1", "p1", T, DEFAULT_WEIGHTS)
    by_kind = {d.kind: interests.score(d.decayed, T) for d in deltas}
    assert by_kind == {interests.PRODUCT: pytest.approx(product),
                       interests.CATEGORY: pytest.approx(category)}


def test_default_category_view_weight_is_one() -> None:
    [delta] = interests.interactions("categoryView", "c1", None, T, DEFAULT_WEIGHTS)
    assert interests.score(delta.decayed, T) == pytest.approx(1.0)


def test_many_interactions_with_one_item_are_one_update() -> None:
    deltas = [d for i in range(50) for d in interests.interactions(
        "productView", "c1", "p1", T + timedelta(hours=i), DEFAULT_WEIGHTS)]
    ops = interests.updates(1, "alice", deltas)
    assert len(ops) == 2  # the product and its category
    product = next(op for op in ops if ":product:" in op._filter["_id"])
    assert product._doc["$inc"]["views"] == 50
    assert product._doc["$max"]["lastInteractionAt"] == T + timedelta(hours=49)


# -- through the API -----------------------------------------------------------------


def ctx(visitor: str = "v1", **more: Any) -> dict[str, Any]:
    return {"shopId": 1, "visitorId": visitor, **more}


async def login(api: Api, user: str = "alice", visitor: str = "v1") -> None:
    await api.data('mutation($c: TrackContext!, $u: String!) { login(context: $c, userId: $u) '
                   "{ userId } }", {"c": ctx(visitor), "u": user})


async def view_product(api: Api, product: str, category: str = "c1", visitor: str = "v1",
                       **more: Any) -> None:
    await api.data("mutation($c: TrackContext!, $cat: String!, $p: String!) { viewProduct("
                   "context: $c, categoryId: $cat, productId: $p) { eventId } }",
                   {"c": ctx(visitor, **more), "cat": category, "p": product})


async def view_category(api: Api, category: str, visitor: str = "v1") -> None:
    await api.data("mutation($c: TrackContext!, $cat: String!) { viewCategory(context: $c, "
                   "categoryId: $cat) { eventId } }", {"c": ctx(visitor), "cat": category})


async def add_to_cart(api: Api, product: str, category: str = "c1", visitor: str = "v1") -> None:
    await api.data("mutation($c: TrackContext!, $cat: String!, $p: String!) { addToCart("
                   "context: $c, categoryId: $cat, productId: $p) { eventId } }",
                   {"c": ctx(visitor), "cat": category, "p": product})


async def checkout(api: Api, order: str, visitor: str = "v1") -> None:
    await api.data("mutation($c: TrackContext!, $o: String!) { completeCheckout(context: $c, "
                   "orderId: $o) { eventId } }", {"c": ctx(visitor), "o": order})


async def interest_map(api: Api, shop: dict, user: str = "alice",
                       limit: int | None = None) -> dict[str, Any]:
    variables: dict[str, Any] = {"u": user}
    if limit is not None:
        variables["l"] = limit
    return (await api.data(MAP, variables, key=shop["key"]))["interestMap"]


def scores(entries: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {e[key]: e["score"] for e in entries}


async def test_default_weights_through_the_api(api: Api, shop: dict) -> None:
    await login(api)
    await view_category(api, "c-viewed")
    await view_product(api, "p-viewed", "c-product")
    await add_to_cart(api, "p-bought", "c-bought")
    await checkout(api, "o1")

    m = await interest_map(api, shop)
    assert scores(m["products"], "productId") == {
        "p-bought": pytest.approx(5 + 10), "p-viewed": pytest.approx(2)}
    assert scores(m["categories"], "categoryId") == {
        "c-bought": pytest.approx(2 + 4), "c-product": pytest.approx(1),
        "c-viewed": pytest.approx(1)}


async def test_counters_per_product_and_category(api: Api, shop: dict, clock: FakeClock) -> None:
    await login(api)
    await view_category(api, "c1")
    await view_product(api, "p1")
    await view_product(api, "p1")
    await add_to_cart(api, "p1")
    clock.advance(minutes=5)
    await checkout(api, "o1")

    m = await interest_map(api, shop)
    [category], [product] = m["categories"], m["products"]
    assert {k: category[k] for k in ("views", "productViews", "cartAdds", "purchases")} == \
        {"views": 1, "productViews": 2, "cartAdds": 1, "purchases": 1}
    assert {k: product[k] for k in ("categoryId", "views", "cartAdds", "purchases")} == \
        {"categoryId": "c1", "views": 2, "cartAdds": 1, "purchases": 1}
    assert product["lastInteractionAt"].startswith("2026-03-01T12:05:00")


async def test_map_is_ordered_by_score(api: Api, shop: dict) -> None:
    await login(api)
    await view_product(api, "once")
    for _ in range(3):
        await view_product(api, "thrice")
    await add_to_cart(api, "carted")
    m = await interest_map(api, shop)
    assert [p["productId"] for p in m["products"]] == ["thrice", "carted", "once"]


async def test_limit_cuts_the_map(api: Api, shop: dict) -> None:
    await login(api)
    for n in range(5):
        await view_product(api, f"p{n}", f"c{n}")
    m = await interest_map(api, shop, limit=2)
    assert len(m["products"]) == 2
    assert len(m["categories"]) == 2
    body = await api.post(MAP, {"u": "alice", "l": 0}, key=shop["key"])
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"


async def test_score_halves_after_30_days(api: Api, shop: dict, clock: FakeClock) -> None:
    await login(api)
    await view_product(api, "p1")
    before = (await interest_map(api, shop))["products"][0]
    clock.advance(days=30)
    after = (await interest_map(api, shop))["products"][0]
    assert before["score"] == pytest.approx(2.0, rel=1e-9)
    assert after["score"] == pytest.approx(before["score"] / 2, rel=1e-9)
    assert after["lastInteractionAt"] == before["lastInteractionAt"]
    assert after["views"] == 1


async def test_recent_interest_outranks_old_once_decay_outweighs(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await login(api)
    for _ in range(5):
        await view_product(api, "long-ago")  # 5 x 2 = 10 today
    clock.advance(days=60)  # 10 -> 2.5
    await view_product(api, "recent-1")  # 2
    m = await interest_map(api, shop)
    assert [p["productId"] for p in m["products"]] == ["long-ago", "recent-1"]
    assert m["products"][0]["score"] == pytest.approx(2.5)

    clock.advance(days=20)  # 2.5 -> 1.57, 2 -> 1.26
    await view_product(api, "recent-2")  # 2
    m = await interest_map(api, shop)
    assert [p["productId"] for p in m["products"]] == ["recent-2", "long-ago", "recent-1"]
    assert m["products"][1]["score"] == pytest.approx(10 * 2 ** (-80 / 30))


async def test_customer_interest_map_matches_the_query(api: Api, shop: dict) -> None:
    await login(api)
    await view_product(api, "p1")
    await view_category(api, "c2")
    data = await api.data('{ customer(shopId: 1, userId: "alice") { interestMap(limit: 5) { '
                          "products { productId score } categories { categoryId score } } } }",
                          key=shop["key"])
    m = await interest_map(api, shop, limit=5)
    via_customer = data["customer"]["interestMap"]
    assert via_customer["products"] == [{"productId": p["productId"], "score": p["score"]}
                                        for p in m["products"]]
    assert via_customer["categories"] == [{"categoryId": c["categoryId"], "score": c["score"]}
                                          for c in m["categories"]]


async def test_custom_weights_apply_to_later_interactions(api: Api, shop: dict) -> None:
    await login(api)
    await view_product(api, "before", "c-before")
    data = await api.data(
        "mutation { updateShopSettings(shopId: 1, settings: {interestWeights: "
        "{productViewProduct: 7, productViewCategory: 0.5}}) { settings { interestWeights } } }",
        key=shop["key"])
    weights = data["updateShopSettings"]["settings"]["interestWeights"]
    assert weights["productViewProduct"] == 7
    assert weights["cartAddProduct"] == 5  # the others keep their defaults
    await view_product(api, "after", "c-after")

    m = await interest_map(api, shop)
    assert scores(m["products"], "productId") == {"after": pytest.approx(7),
                                                  "before": pytest.approx(2)}
    assert scores(m["categories"], "categoryId") == {"c-before": pytest.approx(1),
                                                     "c-after": pytest.approx(0.5)}


@pytest.mark.parametrize("weights", ['{unknownWeight: 1}', '{categoryView: -1}',
                                     '{categoryView: "heavy"}', '{categoryView: true}',
                                     '{categoryView: false}'])
async def test_invalid_weights_are_bad_input(api: Api, shop: dict, weights: str) -> None:
    error = await api.error("mutation { updateShopSettings(shopId: 1, settings: {interestWeights: "
                            f"{weights}}}) {{ shopId }} }}", key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
    data = await api.data("query { shop(shopId: 1) { settings { interestWeights } } }",
                          key=shop["key"])
    assert data["shop"]["settings"]["interestWeights"]["categoryView"] == 1  # unchanged


async def test_anonymous_interactions_reach_the_map_on_linking(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await view_category(api, "c1")
    await view_product(api, "p1")
    await add_to_cart(api, "p1")
    clock.advance(days=30)
    assert (await interest_map(api, shop))["products"] == []
    await login(api)

    m = await interest_map(api, shop)
    [product] = m["products"]
    assert product["views"] == 1
    assert product["cartAdds"] == 1
    assert product["score"] == pytest.approx((2 + 5) / 2)  # aged from when they happened
    [category] = m["categories"]
    assert (category["views"], category["productViews"], category["cartAdds"]) == (1, 1, 1)
    assert category["score"] == pytest.approx((1 + 1 + 2) / 2)


async def test_imported_history_reaches_the_map_with_its_age(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    at = (clock.now() - timedelta(days=10)).isoformat()
    await api.data(
        "mutation($e: [TrackInput!]!) { importEvents(shopId: 1, events: $e) { eventId } }",
        {"e": [{"type": "PRODUCT_VIEW", "categoryId": "c1", "productId": "p1",
                "context": ctx(occurredAt=at)}]}, key=shop["key"])
    await login(api)
    [product] = (await interest_map(api, shop))["products"]
    assert product["score"] == pytest.approx(2 * 2 ** (-10 / 30))
    assert product["lastInteractionAt"].replace("Z", "+00:00") == at


async def test_a_stranger_has_an_empty_map(api: Api, shop: dict) -> None:
    m = await interest_map(api, shop, user="nobody")
    assert m == {"categories": [], "products": []}


async def test_anonymous_purchase_reaches_the_map_on_linking(api: Api, shop: dict) -> None:
    await add_to_cart(api, "p1")
    await checkout(api, "o1")
    await login(api)
    [product] = (await interest_map(api, shop))["products"]
    assert (product["cartAdds"], product["purchases"]) == (1, 1)
    assert product["score"] == pytest.approx(5 + 10)
    data = await api.data('{ customer(shopId: 1, userId: "alice") { orders { orderId '
                          "items { productId quantity } } } }", key=shop["key"])
    assert data["customer"]["orders"] == [{"orderId": "o1",
                                           "items": [{"productId": "p1", "quantity": 1}]}]
