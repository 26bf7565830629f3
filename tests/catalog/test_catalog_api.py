"""The catalog over real HTTP: products by API and by feed (CONTRACT.md section 11)."""

from __future__ import annotations

import pytest

from app.abandonment import fire_due
from app.catalog import poll
from tests.catalog.feed_server import FeedServer, fixture

RESULT = "received created updated unchanged rejected errors { index productId message }"
UPSERT = f"""mutation($shopId: Int!, $products: [ProductInput!]!) {{
  upsertProducts(shopId: $shopId, products: $products) {{ {RESULT} }} }}"""
IMPORT = f"""mutation($shopId: Int!, $url: String!) {{
  importCatalogFeed(shopId: $shopId, url: $url) {{ {RESULT} }} }}"""
PRODUCT = """query($shopId: Int!, $productId: String!) {
  product(shopId: $shopId, productId: $productId) {
  productId categoryId name url imageUrl price oldPrice currency available updatedAt } }"""
PRODUCTS = """query($shopId: Int!, $categoryId: String, $first: Int, $after: String) {
  products(shopId: $shopId, categoryId: $categoryId, first: $first, after: $after) {
    nodes { productId name price } pageInfo { hasNextPage endCursor } } }"""


async def upsert(api, shop, products):
    return (await api.data(UPSERT, {"shopId": 1, "products": products}, shop["key"]))[
        "upsertProducts"]


async def get(api, shop, product_id):
    return (await api.data(PRODUCT, {"shopId": 1, "productId": product_id}, shop["key"]))[
        "product"]


async def all_products(api, shop):
    data = await api.data(PRODUCTS, {"shopId": 1, "first": 200}, shop["key"])
    return {p["productId"]: p for p in data["products"]["nodes"]}


@pytest.fixture
async def feeds(platform):
    platform.settings = platform.settings.with_(webhook_allow_private=True)  # 127.0.0.1
    async with FeedServer() as server:
        yield server


async def test_a_shop_upserts_reads_pages_and_deletes_its_products(api, shop):
    result = await upsert(api, shop, [
        {"productId": "sku-42", "name": "Nike Pegasus 41", "price": 9990, "currency": "RUB",
         "url": "https://shop.example/p/42", "imageUrl": "https://shop.example/i/42.jpg",
         "categoryId": "running"},
        {"productId": "sku-43", "name": "Socks", "price": 490, "categoryId": "socks"}])
    assert result == {"received": 2, "created": 2, "updated": 0, "unchanged": 0,
                      "rejected": 0, "errors": []}
    again = await upsert(api, shop, [{"productId": "sku-42", "price": 8990}])
    assert (again["updated"], again["unchanged"]) == (1, 0)
    pegasus = await get(api, shop, "sku-42")
    assert pegasus["name"] == "Nike Pegasus 41" and pegasus["price"] == 8990  # name stays
    assert pegasus["available"] is True and pegasus["currency"] == "RUB"
    page = await api.data(PRODUCTS, {"shopId": 1, "first": 1}, shop["key"])
    assert [p["productId"] for p in page["products"]["nodes"]] == ["sku-42"]
    assert page["products"]["pageInfo"] == {"hasNextPage": True, "endCursor": "sku-42"}
    rest = await api.data(PRODUCTS, {"shopId": 1, "after": "sku-42"}, shop["key"])
    assert [p["productId"] for p in rest["products"]["nodes"]] == ["sku-43"]
    running = await api.data(PRODUCTS, {"shopId": 1, "categoryId": "running"}, shop["key"])
    assert [p["productId"] for p in running["products"]["nodes"]] == ["sku-42"]
    deleted = await api.data('mutation { deleteProducts(shopId: 1, productIds: ["sku-43", '
                             '"nope"]) }', key=shop["key"])
    assert deleted["deleteProducts"] == 1
    assert await get(api, shop, "sku-43") is None


async def test_too_many_products_is_bad_input_and_changes_nothing(api, shop):
    error = await api.error(UPSERT, {"shopId": 1, "products": [
        {"productId": f"p{i}"} for i in range(1001)]}, shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert await all_products(api, shop) == {}


async def test_another_shops_key_cannot_touch_the_catalog(api, shop):
    other = await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    error = await api.error(UPSERT, {"shopId": 1, "products": [{"productId": "x"}]},
                            other["createShop"]["apiKey"])
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_a_yml_feed_is_imported_with_its_bad_offers_listed(api, shop, feeds):
    url = feeds.put("shop.yml", fixture("shop.yml"))
    result = (await api.data(IMPORT, {"shopId": 1, "url": url}, shop["key"]))[
        "importCatalogFeed"]
    assert (result["received"], result["created"], result["rejected"]) == (5, 3, 2)
    assert [(e["index"], e["productId"]) for e in result["errors"]] == [
        (3, "broken-price"), (4, None)]
    products = await all_products(api, shop)
    assert products["nike-pegasus-41"]["name"] == 'Кроссовки Nike Pegasus 41 "Blue & Gold"'
    salomon = await get(api, shop, "salomon-xa-pro")
    assert salomon["available"] is False and salomon["price"] == 14490
    pegasus = await get(api, shop, "nike-pegasus-41")
    assert (pegasus["oldPrice"], pegasus["currency"]) == (12990, "RUR")


async def test_the_same_feed_imported_twice_changes_nothing_the_second_time(api, shop, feeds):
    url = feeds.put("google.xml", fixture("google.rss.xml"))
    first = (await api.data(IMPORT, {"shopId": 1, "url": url}, shop["key"]))["importCatalogFeed"]
    before = await all_products(api, shop)
    stamps = (await get(api, shop, "SKU-1002"))["updatedAt"]
    second = (await api.data(IMPORT, {"shopId": 1, "url": url}, shop["key"]))["importCatalogFeed"]
    assert (first["created"], second["created"], second["updated"]) == (2, 0, 0)
    assert second["unchanged"] == 2 and second["rejected"] == 1
    assert await all_products(api, shop) == before
    assert (await get(api, shop, "SKU-1002"))["updatedAt"] == stamps
    gel = await get(api, shop, "SKU-1002")
    assert (gel["price"], gel["currency"], gel["available"]) == (12.5, "RUB", False)


async def test_an_atom_feed_is_imported(api, shop, feeds):
    url = feeds.put("atom", fixture("google.atom.xml"))
    result = (await api.data(IMPORT, {"shopId": 1, "url": url}, shop["key"]))["importCatalogFeed"]
    assert result["created"] == 2
    assert (await get(api, shop, "SKU-2001"))["url"] == "https://runners.example/p/trail-socks"


async def test_a_feed_of_more_offers_than_one_upsert_takes_is_imported_in_full(
        api, shop, feeds):
    offers = "".join(f'<offer id="p{n}"><name>P{n}</name><price>{n + 1}</price></offer>'
                     for n in range(1001))  # one more than an upsert takes
    body = f"<yml_catalog><shop><offers>{offers}</offers></shop></yml_catalog>"
    url = feeds.put("big.yml", body.encode())
    result = (await api.data(IMPORT, {"shopId": 1, "url": url}, shop["key"]))[
        "importCatalogFeed"]
    assert (result["received"], result["created"], result["rejected"]) == (1001, 1001, 0)
    assert (await get(api, shop, "p1000"))["price"] == 1001


ENTITY = (b'<?xml version="1.0"?>\n<!DOCTYPE yml_catalog [<!ENTITY brand "Nike">]>\n'
          b'<yml_catalog><shop><offers><offer id="x"><name>&brand;</name><price>1</price>'
          b"</offer></offers></shop></yml_catalog>")
HTML = b"<!DOCTYPE html>\n<html><head><title>Shop</title></head><body>Sale!</body></html>"


@pytest.mark.parametrize("name, body, message", [
    ("entity", ENTITY, "unsafe"),
    ("html", HTML, "not a product feed"),
    ("missing", None, "HTTP 404"),
])
async def test_what_is_not_a_safe_feed_is_bad_input_and_changes_nothing(
        api, shop, feeds, name, body, message):
    await upsert(api, shop, [{"productId": "x", "name": "Kept", "price": 5}])
    url = feeds.put(name, body) if body is not None else feeds.url(name)
    error = await api.error(IMPORT, {"shopId": 1, "url": url}, shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT" and message in error["message"]
    assert list(await all_products(api, shop)) == ["x"]
    assert (await get(api, shop, "x"))["name"] == "Kept"


async def test_a_feed_over_50_mb_is_refused_with_nothing_changed(api, shop, feeds):
    feeds.huge["big"] = 60 * 1024 * 1024
    error = await api.error(IMPORT, {"shopId": 1, "url": feeds.url("big")}, shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT" and "50 MB" in error["message"]
    assert await all_products(api, shop) == {}


async def test_a_feed_that_redirects_is_not_followed(api, shop, feeds):
    feeds.redirects["moved"] = "http://169.254.169.254/latest/meta-data/"
    error = await api.error(IMPORT, {"shopId": 1, "url": feeds.url("moved")}, shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT" and "302" in error["message"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/feed.xml", "http://169.254.169.254/x",
                                 "http://[::1]/feed.yml", "file:///etc/passwd",
                                 "http://localhost/feed.xml"])
async def test_a_feed_at_a_private_address_is_refused(api, shop, platform, url):
    platform.settings = platform.settings.with_(webhook_allow_private=False)
    error = await api.error(IMPORT, {"shopId": 1, "url": url}, shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert await all_products(api, shop) == {}


async def test_an_abandoned_cart_trigger_carries_the_products_names_and_prices(
        api, shop, platform, clock):
    await upsert(api, shop, [{"productId": "sku-42", "name": "Nike Pegasus 41", "price": 9990,
                              "imageUrl": "https://shop.example/42.jpg"}])
    await api.data("mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }", {"e": [
        {"type": "LOGIN", "context": {"shopId": 1, "visitorId": "v1"}, "userId": "u1"},
        {"type": "CART_ADD", "context": {"shopId": 1, "visitorId": "v1"}, "categoryId": "c",
         "productId": "sku-42"},
        {"type": "CART_ADD", "context": {"shopId": 1, "visitorId": "v1"}, "categoryId": "c",
         "productId": "not-in-the-catalog"}]})
    clock.advance(days=1)
    assert await fire_due(platform) == 1
    data = await api.data('{ triggers(shopId: 1, types: [ABANDONED_CART]) { nodes { cart { '
                          'items { productId product { name price imageUrl } } } } } }',
                          key=shop["key"])
    [trigger] = data["triggers"]["nodes"]
    items = {i["productId"]: i["product"] for i in trigger["cart"]["items"]}
    assert items == {"sku-42": {"name": "Nike Pegasus 41", "price": 9990,
                                "imageUrl": "https://shop.example/42.jpg"},
                     "not-in-the-catalog": None}
    # What the trigger carries is the product as it was: a later change does not show.
    await upsert(api, shop, [{"productId": "sku-42", "price": 5000}])
    again = await api.data('{ triggers(shopId: 1, types: [ABANDONED_CART]) { nodes { cart { '
                           'items { productId product { price } } } } } }', key=shop["key"])
    prices = {i["productId"]: i["product"] for i in again["triggers"]["nodes"][0]["cart"]["items"]}
    assert prices["sku-42"] == {"price": 9990}


SETTINGS = """mutation($s: ShopSettingsInput!) { updateShopSettings(shopId: 1, settings: $s) {
  settings { catalogFeedUrl catalogFeedPollSeconds } } }"""


async def test_a_catalog_feed_url_is_fetched_every_poll_period(api, shop, platform, feeds, clock):
    url = feeds.put("poll.xml", fixture("google.rss.xml"))
    data = await api.data(SETTINGS, {"s": {"catalogFeedUrl": url,
                                           "catalogFeedPollSeconds": 3600}}, shop["key"])
    assert data["updateShopSettings"]["settings"] == {"catalogFeedUrl": url,
                                                      "catalogFeedPollSeconds": 3600}
    assert await poll(platform) == 1
    assert set(await all_products(api, shop)) == {"SKU-1001", "SKU-1002"}
    assert await poll(platform) == 0  # not due again yet
    feeds.put("poll.xml", fixture("google.atom.xml"))
    clock.advance(seconds=3600)
    assert await poll(platform) == 1
    assert set(await all_products(api, shop)) == {"SKU-1001", "SKU-1002", "SKU-2001",
                                                  "SKU-2002"}
    assert feeds.requests.count("poll.xml") == 2
    off = await api.data(SETTINGS, {"s": {"catalogFeedUrl": ""}}, shop["key"])
    assert off["updateShopSettings"]["settings"]["catalogFeedUrl"] is None
    clock.advance(seconds=3600)
    assert await poll(platform) == 0


@pytest.mark.parametrize("settings", [{"catalogFeedUrl": "ftp://shop.example/feed.xml"},
                                      {"catalogFeedPollSeconds": 59}])
async def test_catalog_feed_settings_are_checked(api, shop, settings):
    error = await api.error(SETTINGS, {"s": settings}, shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
