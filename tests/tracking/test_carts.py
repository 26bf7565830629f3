"""Carts and orders in the domain: merging, safe item keys, and a cart through the pipeline."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import ReturnDocument

from app import carts
from app.analytics import reading
from app.core.clock import FakeClock, utc
from app.core.events import Context, EventInput, EventType
from app.platform import Platform, open_store
from app.tracking import pipeline as tracking

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OWNER = {"shopId": 1, "owner": "u:alice", "userId": "alice", "visitorId": "v1"}


def line(product: str, quantity: int, added: datetime, price: float | None = None) -> dict:
    return {"productId": product, "categoryId": "c", "quantity": quantity, "addedAt": added,
            "price": price}


def cart(updated: datetime, *lines: dict, version: int = 1) -> dict[str, Any]:
    return {"items": {carts.item_key(i["productId"]): i for i in lines}, "updatedAt": updated,
            "version": version, "status": carts.ACTIVE}


# -- item keys -------------------------------------------------------------------------


@pytest.mark.parametrize("product", ["sku.1", "$price", "a.b$c", "%2E", "100%"])
def test_item_key_has_no_dot_or_dollar(product: str) -> None:
    key = carts.item_key(product)
    assert "." not in key and "$" not in key


def test_item_key_keeps_distinct_products_distinct() -> None:
    products = ["a.b", "a%2Eb", "a$b", "a%24b", "a%b", "a%25b", "ab"]
    assert len({carts.item_key(p) for p in products}) == len(products)


def test_item_key_leaves_plain_ids_alone() -> None:
    assert carts.item_key("SKU-42_x") == "SKU-42_x"


# -- merging an anonymous cart into the customer's ---------------------------------------


async def merge(anonymous: dict[str, Any], mine: dict[str, Any] | None,
                delay: int = 3600) -> dict[str, Any]:
    """The customer's cart after the two writes of a merge, run on the embedded store."""
    storage = open_store("mongomock://", f"merge_{uuid.uuid4().hex[:8]}")
    await storage.carts.insert_one({"_id": "1:v:v1", "shopId": 1, **anonymous})
    if mine is not None:
        await storage.carts.insert_one({"_id": "1:u:alice", "shopId": 1, **mine})
    taken = (await storage.carts.find_one_and_update(
        {"_id": "1:v:v1", "shopId": 1}, carts.take_pipeline(),
        return_document=ReturnDocument.AFTER))["lastMerge"]
    await storage.carts.update_one(
        {"_id": "1:u:alice", "shopId": 1, "appliedEvents": {"$ne": "m"}},
        carts.merge_pipeline(taken, OWNER, delay, "m"), upsert=True)
    doc = await storage.carts.find_one({"_id": "1:u:alice"})
    assert doc is not None
    for field in ("updatedAt", "dueAt"):
        doc[field] = utc(doc[field]) if doc.get(field) else doc.get(field)
    for item in doc["items"].values():
        item["addedAt"] = utc(item["addedAt"])
    return doc


async def test_merge_adds_quantities_of_the_same_product() -> None:
    anonymous = cart(T0, line("p1", 2, T0, price=9.0), line("p2", 1, T0))
    mine = cart(T0 - timedelta(days=1), line("p1", 3, T0 - timedelta(days=1), price=10.0))
    merged = await merge(anonymous, mine)
    p1 = merged["items"][carts.item_key("p1")]
    assert p1["quantity"] == 5
    assert p1["addedAt"] == T0 - timedelta(days=1)
    assert p1["price"] == 9.0  # the latest price the visitor saw
    assert merged["items"][carts.item_key("p2")]["quantity"] == 1


async def test_merge_restarts_the_abandoned_clock_from_the_later_change() -> None:
    later = T0 + timedelta(minutes=5)
    merged = await merge(cart(T0, line("p1", 1, T0)), cart(later, line("p2", 1, later)), 600)
    assert merged["updatedAt"] == later
    assert merged["dueAt"] == later + timedelta(seconds=600)
    assert merged["status"] == carts.ACTIVE


async def test_merge_into_no_cart_takes_the_anonymous_one() -> None:
    merged = await merge(cart(T0, line("p1", 2, T0), version=4), None, 60)
    assert {k: v["quantity"] for k, v in merged["items"].items()} == {"p1": 2}
    assert merged["userId"] == "alice" and merged["owner"] == "u:alice"
    assert merged["version"] == 5
    assert merged["dueAt"] == T0 + timedelta(seconds=60)


async def test_merge_bumps_the_version_past_both() -> None:
    merged = await merge(cart(T0, line("p1", 1, T0), version=2),
                         cart(T0, line("p2", 1, T0), version=7), 60)
    assert merged["version"] > 7


def test_merge_leaves_its_inputs_alone() -> None:
    taken = cart(T0, line("p1", 2, T0))
    before = copy.deepcopy(taken)
    carts.merge_pipeline(taken, OWNER, 60, "m")
    assert taken == before


def test_items_are_oldest_first_without_zero_quantities() -> None:
    doc = cart(T0, line("late", 1, T0 + timedelta(seconds=1)), line("early", 1, T0),
               line("gone", 0, T0))
    assert [i["productId"] for i in carts.items_of(doc)] == ["early", "late"]


def test_status_of_a_cart() -> None:
    assert carts.status_of(None) == carts.EMPTY
    assert carts.status_of(cart(T0)) == carts.EMPTY
    assert carts.status_of(cart(T0, line("p", 1, T0))) == carts.ACTIVE
    assert carts.status_of({**cart(T0), "status": carts.ORDERED}) == carts.ORDERED


# -- through the pipeline, without HTTP --------------------------------------------------


@pytest.fixture
async def shop(platform: Platform) -> int:
    created, _ = await platform.shops.create("Cart shop", shop_id=1)
    return created.shop_id


async def track(platform: Platform, kind: EventType, visitor: str = "v1",
                **fields: Any) -> tracking.Outcome:
    event = EventInput(type=kind, context=Context(shop_id=1, visitor_id=visitor), **fields)
    [outcome] = await tracking.track(platform, [event])
    assert outcome.error is None, outcome.error
    return outcome


async def add(platform: Platform, product: str, quantity: int = 1, **more: Any) -> None:
    await track(platform, EventType.CART_ADD, category_id="c", product_id=product,
                quantity=quantity, **more)


async def items(platform: Platform, **owner: str) -> dict[str, int]:
    doc = await reading.cart(platform, 1, **owner or {"visitor_id": "v1"})
    return {i["productId"]: i["quantity"] for i in carts.items_of(doc)}


async def test_adding_again_adds_quantities(platform: Platform, shop: int) -> None:
    await add(platform, "p1", 2)
    await add(platform, "p1", 3)
    assert await items(platform) == {"p1": 5}


async def test_product_ids_with_dots_and_dollars_stay_apart(
    platform: Platform, shop: int
) -> None:
    for product in ("sku.1", "sku%2E1", "$set", "a.b$c"):
        await add(platform, product)
    assert await items(platform) == {"sku.1": 1, "sku%2E1": 1, "$set": 1, "a.b$c": 1}
    await track(platform, EventType.CART_REMOVE, product_id="sku.1")
    await track(platform, EventType.CART_REMOVE, product_id="$set")
    assert await items(platform) == {"sku%2E1": 1, "a.b$c": 1}


async def test_remove_then_add_starts_from_zero(platform: Platform, shop: int) -> None:
    await add(platform, "p1", 4)
    await track(platform, EventType.CART_REMOVE, product_id="p1")
    await add(platform, "p1", 1)
    assert await items(platform) == {"p1": 1}


async def test_removing_what_is_not_there_changes_nothing(platform: Platform, shop: int) -> None:
    await add(platform, "p1")
    await track(platform, EventType.CART_REMOVE, product_id="p2")
    assert await items(platform) == {"p1": 1}


async def test_clear_empties_the_cart(platform: Platform, shop: int) -> None:
    await add(platform, "p1")
    await add(platform, "p2")
    await track(platform, EventType.CART_CLEAR)
    doc = await reading.cart(platform, 1, visitor_id="v1")
    assert carts.items_of(doc) == [] and carts.status_of(doc) == carts.EMPTY
    assert doc is not None and doc["dueAt"] is None


async def test_cart_change_sets_the_abandoned_clock(
    platform: Platform, shop: int, clock: FakeClock
) -> None:
    await add(platform, "p1")
    doc = await reading.cart(platform, 1, visitor_id="v1")
    assert doc is not None
    assert carts.status_of(doc) == carts.ACTIVE
    assert doc["dueAt"].replace(tzinfo=UTC) == clock.now() + timedelta(seconds=3600)


async def test_checkout_turns_the_cart_into_an_order(
    platform: Platform, shop: int, clock: FakeClock
) -> None:
    await track(platform, EventType.LOGIN, user_id="alice")
    await add(platform, "p1", 2, price=3.5)
    await add(platform, "p2")
    await add(platform, "p1", 1)
    await track(platform, EventType.CHECKOUT, order_id="o-1")
    [order] = await reading.orders(platform, 1, "alice")
    assert order["orderId"] == "o-1"
    assert [(i["productId"], i["quantity"], i.get("price")) for i in order["items"]] == [
        ("p1", 3, 3.5), ("p2", 1, None)]
    doc = await reading.cart(platform, 1, user_id="alice")
    assert carts.items_of(doc) == [] and carts.status_of(doc) == carts.ORDERED


async def test_same_order_twice_is_one_order(platform: Platform, shop: int) -> None:
    await track(platform, EventType.LOGIN, user_id="alice")
    await add(platform, "p1")
    await track(platform, EventType.CHECKOUT, order_id="o-1")
    await add(platform, "p2")
    await track(platform, EventType.CHECKOUT, order_id="o-1")
    [order] = await reading.orders(platform, 1, "alice")
    assert [i["productId"] for i in order["items"]] == ["p1"]


async def test_adding_after_checkout_starts_a_new_cart(platform: Platform, shop: int) -> None:
    await add(platform, "p1")
    await track(platform, EventType.CHECKOUT, order_id="o-1")
    await add(platform, "p2")
    doc = await reading.cart(platform, 1, visitor_id="v1")
    assert await items(platform) == {"p2": 1}
    assert carts.status_of(doc) == carts.ACTIVE


async def test_anonymous_cart_is_merged_on_login(platform: Platform, shop: int) -> None:
    await track(platform, EventType.LOGIN, user_id="alice", visitor="phone")
    await add(platform, "p1", 2)  # v1, anonymous
    await track(platform, EventType.CART_ADD, visitor="phone", category_id="c",
                product_id="p1", quantity=1)
    await track(platform, EventType.LOGIN, user_id="alice")
    assert await items(platform, user_id="alice") == {"p1": 3}


async def test_carts_of_visitors_are_separate(platform: Platform, shop: int) -> None:
    await add(platform, "p1")
    await track(platform, EventType.CART_ADD, visitor="v2", category_id="c", product_id="p2",
                quantity=1)
    assert await items(platform) == {"p1": 1}
    assert await items(platform, visitor_id="v2") == {"p2": 1}
