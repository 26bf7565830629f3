"""The product store: what an upsert changes, records and costs (app/catalog/store.py)."""

from __future__ import annotations

import asyncio

import pytest

from app.core import BadInput

SHOP = 1


def product(pid: str, **fields):
    return {"productId": pid, **fields}


async def test_an_upsert_creates_updates_and_leaves_unchanged(platform):
    catalog = platform.catalog
    first = await catalog.upsert(SHOP, [product("a", name="A", price=100.0),
                                        product("b", name="B", price=50.0)])
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    again = await catalog.upsert(SHOP, [product("a", name="A", price=100.0),
                                        product("b", price=45.0)])
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    b = await catalog.get(SHOP, "b")
    assert (b["name"], b["price"], b["available"]) == ("B", 45.0, True)  # name stays


async def test_a_lower_price_is_recorded_with_the_write_and_a_first_price_is_not(platform):
    catalog = platform.catalog
    await catalog.upsert(SHOP, [product("a", name="A")])
    await catalog.upsert(SHOP, [product("a", price=100.0)])  # the first price
    await catalog.upsert(SHOP, [product("a", price=120.0)])  # a rise
    await catalog.upsert(SHOP, [product("a", price=90.0)])  # a drop
    doc = await platform.storage.products.find_one({"_id": "1:a"})
    assert [(c["kind"], c["old"], c["new"]) for c in doc["pending"]] == [
        ("PRICE_DROP", 120.0, 90.0)]
    assert doc["pending"][0]["changeId"] == f"1:a:{doc['rev']}"
    assert [h["price"] for h in await catalog.history(SHOP, "a")] == [100.0, 120.0, 90.0]


async def test_a_retried_upsert_records_no_second_change(platform):
    catalog = platform.catalog
    await catalog.upsert(SHOP, [product("a", price=100.0, available=False)])
    for _ in range(2):
        await catalog.upsert(SHOP, [product("a", price=80.0, available=True)])
    doc = await platform.storage.products.find_one({"_id": "1:a"})
    assert sorted(c["kind"] for c in doc["pending"]) == ["PRICE_DROP", "RESTOCK"]


async def test_bad_products_are_rejected_and_listed_and_the_others_applied(platform):
    result = await platform.catalog.upsert(SHOP, [
        product("ok", price=10.0), product("", price=1.0), product("neg", price=-1.0),
        product("ok", price=11.0), {"productId": "u", "url": "javascript:alert(1)"}])
    assert (result.created, result.rejected) == (1, 4)
    assert [(e["index"], e["productId"]) for e in result.errors] == [
        (1, ""), (2, "neg"), (3, "ok"), (4, "u")]
    assert await platform.catalog.get(SHOP, "neg") is None


@pytest.mark.parametrize("count", [0, 1001])
async def test_a_call_takes_one_to_a_thousand_products(platform, count):
    with pytest.raises(BadInput):
        await platform.catalog.upsert(SHOP, [product(f"p{i}") for i in range(count)])


async def test_a_thousand_products_cost_two_round_trips(platform):
    products = [product(f"p{i}", price=float(i + 1), name=f"P{i}") for i in range(1000)]
    await platform.catalog.upsert(SHOP, products)
    platform.storage.trips.reset()
    result = await platform.catalog.upsert(SHOP, [{**p, "price": p["price"] - 0.5}
                                                  for p in products])
    assert result.updated == 1000 and result.changes == 1000
    assert platform.storage.trips.by_collection == {"products": 2}


async def test_two_writers_at_once_each_record_their_own_change(platform):
    catalog = platform.catalog
    await catalog.upsert(SHOP, [product("a", price=100.0)])
    await asyncio.gather(catalog.upsert(SHOP, [product("a", price=90.0)]),
                         catalog.upsert(SHOP, [product("a", price=80.0)]))
    doc = await platform.storage.products.find_one({"_id": "1:a"})
    assert doc["rev"] == 3
    assert len({c["changeId"] for c in doc["pending"]}) == len(doc["pending"]) >= 1


async def test_at_most_the_first_100_errors_are_listed_and_all_are_counted(platform):
    result = await platform.catalog.upsert(SHOP, [product(f"p{i}", price=-1.0)
                                                  for i in range(150)])
    assert (result.rejected, len(result.errors)) == (150, 100)
    assert [e["index"] for e in result.errors] == list(range(100))
