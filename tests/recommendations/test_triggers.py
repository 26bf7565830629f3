"""Triggers of abandoned carts and browses carry up to 6 recommendations, in their webhooks
too; chosen when they fire, from products viewed with theirs."""

from __future__ import annotations

import json
from typing import Any

from app.abandonment import fire_due, fire_due_sessions
from app.core.clock import FakeClock
from app.recommendations import attach
from app.server.workers import trigger_fields
from app.webhooks.payload import body
from tests.recommendations.shopping import catalog, folded, view
from tests.support.api import Api
from tests.support.rule_helpers import login, track

TRIGGERS = """query($types: [TriggerType!]) { triggers(shopId: 1, types: $types, first: 50) {
  nodes { triggerId type recommendations { productId score product { name } } } } }"""


async def fired(api: Api, key: str, type_: str) -> list[dict[str, Any]]:
    return (await api.data(TRIGGERS, {"types": [type_]}, key=key))["triggers"]["nodes"]


async def test_an_abandoned_browse_carries_products_viewed_with_the_ones_left(
        api: Api, shop: dict, platform, clock: FakeClock) -> None:
    for s in range(8):  # other sessions: shoe-1 with each of eight others, p0 most often
        await view(api, f"o{s}", "shoes/shoe-1", *[f"shoes/p{i}" for i in range(s + 1)])
    await catalog(platform, {"productId": "p0"}, {"productId": "p1", "available": False})
    await login(api, "me", "alice")
    await view(api, "me", "shoes/shoe-1")
    clock.advance(seconds=1800)
    await folded()
    assert await fire_due_sessions(platform) == 1
    [trigger] = await fired(api, shop["key"], "ABANDONED_BROWSE")
    recs = trigger["recommendations"]
    assert len(recs) == 6
    assert [r["productId"] for r in recs][:1] == ["p0"]
    assert recs[0]["product"] == {"name": "P0"}
    assert "shoe-1" not in [r["productId"] for r in recs]  # the product left
    assert "p1" not in [r["productId"] for r in recs]  # unavailable
    doc = await platform.storage.triggers.find_one({"_id": trigger["triggerId"], "shopId": 1})
    payload = json.loads(body(doc, trigger_fields()))
    assert [r["productId"] for r in payload["data"]["recommendations"]] == [
        r["productId"] for r in recs]
    assert payload["data"]["recommendations"][0]["product"]["name"] == "P0"


async def test_an_abandoned_cart_carries_recommendations(
        api: Api, shop: dict, platform, clock: FakeClock) -> None:
    await view(api, "o1", "hat", "scarf", "gloves")
    await login(api, "me", "bob")
    await track(api, "CART_ADD", "me", categoryId="c", productId="hat")
    clock.advance(hours=2)
    await folded()
    assert await fire_due(platform) == 1
    [trigger] = await fired(api, shop["key"], "ABANDONED_CART")
    assert [r["productId"] for r in trigger["recommendations"]] == ["gloves", "scarf"]


async def test_other_triggers_carry_none(api: Api, shop: dict, platform) -> None:
    await view(api, "o1", "hat", "scarf")
    await login(api, "me", "bob")
    await track(api, "CART_ADD", "me", categoryId="c", productId="hat")
    await track(api, "CHECKOUT", "me", orderId="o1")
    [trigger] = await fired(api, shop["key"], "ORDER_COMPLETED")
    assert trigger["recommendations"] is None


async def test_price_drop_and_back_in_stock_triggers_get_recommendations_for_their_product(
        api: Api, shop: dict, platform) -> None:
    """As the catalog's fan-out hands its triggers over before storing them."""
    await view(api, "o1", "boot", "sock", "lace")
    await view(api, "o2", "boot", "sock")
    await catalog(platform, {"productId": "lace", "available": False})
    await folded()
    docs = [{"_id": f"t{n}", "type": type_, "shopId": 1, "userId": "ann", "visitorId": "v",
             "products": [{"productId": "boot"}]}
            for n, type_ in enumerate(("PRICE_DROPPED", "BACK_IN_STOCK", "CUSTOM_EVENT"))]
    await attach(platform, docs)
    for doc in docs[:2]:
        assert [r["productId"] for r in doc["recommendations"]] == ["sock"]
    assert "recommendations" not in docs[2]


async def test_a_price_drop_fired_by_the_workers_carries_products_viewed_with_it(
        api: Api, shop: dict, platform) -> None:
    """The server's workers hand `attach` to the catalog's fan-out (the catalog sits below)."""
    from app.server.workers import Workers
    from tests.catalog.helpers import rule, upsert, viewed

    await rule(api, shop["key"], type="PRICE_DROPPED")
    await upsert(api, shop["key"], {"productId": "boot", "price": 100.0})
    await view(api, "o1", "boot", "sock", "lace")
    await view(api, "o2", "boot", "sock")  # sock twice with boot, lace once
    await viewed(api, "ann", "boot")
    await upsert(api, shop["key"], {"productId": "boot", "price": 80.0})
    await folded()
    workers = Workers(platform)
    [fan_out] = [job for name, _, job in workers.jobs() if name == "catalog fan-out"]
    assert await fan_out() == 1
    [trigger] = await fired(api, shop["key"], "PRICE_DROPPED")
    assert [r["productId"] for r in trigger["recommendations"]] == ["sock", "lace"]
