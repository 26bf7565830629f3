"""Administration over HTTP: shops, their keys, event sources, settings; the demo shop."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.platform import Platform
from app.server.asgi import create_app
from app.shops.api_keys import hash_key
from tests.support.api import ADMIN_KEY, Api, running

SHOP = "{ shopId name defaultSourceId sources { sourceId name domain active } }"
SETTINGS = ("{ settings { sessionTimeoutSeconds abandonedCartDelaySeconds anonymousHistoryDays "
            "allowedOrigins requireSignedIdentify } }")
UPDATE = "mutation($s: ShopSettingsInput!) { updateShopSettings(shopId: 1, settings: $s) %s }"


async def visit(api: Api, shop_id: int = 1, **more: Any) -> dict[str, Any]:
    return await api.post("mutation($c: TrackContext!) { startVisit(context: $c) { eventId } }",
                          {"c": {"shopId": shop_id, "visitorId": "v1", **more}})


# -- createShop ----------------------------------------------------------------------


async def test_create_shop_returns_a_working_key(api: Api) -> None:
    data = await api.admin(f'mutation {{ createShop(name: "Boots", shopId: 5) {{ apiKey '
                           f"shop {SHOP} }} }}")
    created = data["createShop"]
    assert created["shop"]["shopId"] == 5 and created["shop"]["name"] == "Boots"
    assert created["shop"]["sources"][0]["sourceId"] == created["shop"]["defaultSourceId"]
    read = await api.data("{ shop(shopId: 5) { name } }", key=created["apiKey"])
    assert read["shop"] == {"name": "Boots"}


async def test_create_shop_without_id_takes_the_next_one(api: Api, shop: dict) -> None:
    data = await api.admin('mutation { createShop(name: "Next") { shop { shopId } } }')
    assert data["createShop"]["shop"]["shopId"] == 2


async def test_new_shop_accepts_events_at_once(api: Api, shop: dict) -> None:
    body = await visit(api)
    assert not body.get("errors"), body


async def test_shop_key_is_stored_only_as_a_hash(
    api: Api, shop: dict, platform: Platform
) -> None:
    doc = await platform.storage.shops.find_one({"_id": 1})
    assert shop["key"] not in str(doc)
    assert hash_key(shop["key"]) in doc["keyHashes"]


async def test_create_shop_with_a_taken_id_is_bad_input(api: Api, shop: dict) -> None:
    error = await api.error('mutation { createShop(name: "Again", shopId: 1) { apiKey } }',
                            key=ADMIN_KEY)
    assert error["extensions"]["code"] == "BAD_INPUT"


@pytest.mark.parametrize("args", ['name: "   "', 'name: "ok", shopId: 0', 'name: "ok", shopId: -1'])
async def test_create_shop_with_bad_arguments_is_bad_input(api: Api, args: str) -> None:
    error = await api.error(f"mutation {{ createShop({args}) {{ apiKey }} }}", key=ADMIN_KEY)
    assert error["extensions"]["code"] == "BAD_INPUT"


# -- addEventSource ------------------------------------------------------------------


async def test_add_event_source_lists_it(api: Api, shop: dict) -> None:
    data = await api.data(f'mutation {{ addEventSource(shopId: 1, sourceId: "app", name: '
                          f'"Mobile app", domain: "m.shop.test") {SHOP} }}', key=shop["key"])
    found = data["addEventSource"]
    assert {"sourceId": "app", "name": "Mobile app", "domain": "m.shop.test",
            "active": True} in found["sources"]
    assert found["defaultSourceId"] == shop["defaultSourceId"]


async def test_make_default_moves_events_without_a_source(api: Api, shop: dict) -> None:
    data = await api.data(f'mutation {{ addEventSource(shopId: 1, sourceId: "app", name: "App", '
                          f"makeDefault: true) {SHOP} }}", key=shop["key"])
    assert data["addEventSource"]["defaultSourceId"] == "app"
    await visit(api)
    events = await api.data("{ events(shopId: 1) { nodes { sourceId } } }", key=shop["key"])
    assert events["events"]["nodes"] == [{"sourceId": "app"}]


async def test_deactivated_source_stops_taking_events(api: Api, shop: dict) -> None:
    await api.data('mutation { addEventSource(shopId: 1, sourceId: "app", name: "App") '
                   "{ shopId } }", key=shop["key"])
    assert not (await visit(api, sourceId="app")).get("errors")
    await api.data('mutation { addEventSource(shopId: 1, sourceId: "app", name: "App", '
                   "active: false) { shopId } }", key=shop["key"])
    body = await visit(api, sourceId="app", eventId="later")
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"


@pytest.mark.parametrize("source", ["", "has space", "s" * 65, "a/b"])
async def test_add_event_source_with_a_bad_id_is_bad_input(
    api: Api, shop: dict, source: str
) -> None:
    error = await api.error(f'mutation {{ addEventSource(shopId: 1, sourceId: "{source}", '
                            'name: "X") { shopId } }', key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"


async def test_add_event_source_to_an_unknown_shop_is_not_found(api: Api) -> None:
    error = await api.error('mutation { addEventSource(shopId: 42, sourceId: "x", name: "X") '
                            "{ shopId } }", key=ADMIN_KEY)
    assert error["extensions"]["code"] == "NOT_FOUND"


# -- updateShopSettings --------------------------------------------------------------


async def test_update_settings_changes_only_what_is_given(api: Api, shop: dict) -> None:
    data = await api.data(UPDATE % SETTINGS, {"s": {"sessionTimeoutSeconds": 5}},
                          key=shop["key"])
    assert data["updateShopSettings"]["settings"] == {
        "sessionTimeoutSeconds": 5, "abandonedCartDelaySeconds": 3600,
        "anonymousHistoryDays": 60, "allowedOrigins": [], "requireSignedIdentify": False}
    data = await api.data(UPDATE % SETTINGS, {"s": {
        "abandonedCartDelaySeconds": 1, "anonymousHistoryDays": 365,
        "allowedOrigins": ["https://shop.test/"], "requireSignedIdentify": True}},
        key=shop["key"])
    assert data["updateShopSettings"]["settings"] == {
        "sessionTimeoutSeconds": 5, "abandonedCartDelaySeconds": 1,
        "anonymousHistoryDays": 365, "allowedOrigins": ["https://shop.test"],
        "requireSignedIdentify": True}


async def test_updated_settings_read_back(api: Api, shop: dict) -> None:
    await api.data(UPDATE % "{ shopId }", {"s": {"anonymousHistoryDays": 1}}, key=ADMIN_KEY)
    data = await api.data("{ shop(shopId: 1) { settings { anonymousHistoryDays } } }",
                          key=shop["key"])
    assert data["shop"]["settings"] == {"anonymousHistoryDays": 1}


@pytest.mark.parametrize("settings", [
    {"sessionTimeoutSeconds": 0}, {"sessionTimeoutSeconds": -5},
    {"abandonedCartDelaySeconds": 0}, {"anonymousHistoryDays": 0},
    {"anonymousHistoryDays": 366}, {"allowedOrigins": [""]},
])
async def test_invalid_setting_is_bad_input_and_changes_nothing(
    api: Api, shop: dict, settings: dict[str, Any]
) -> None:
    error = await api.error(UPDATE % "{ shopId }", {"s": settings}, key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
    data = await api.data(f"{{ shop(shopId: 1) {SETTINGS} }}", key=shop["key"])
    assert data["shop"]["settings"]["sessionTimeoutSeconds"] == 1800
    assert data["shop"]["settings"]["anonymousHistoryDays"] == 60


async def test_update_settings_of_an_unknown_shop_is_not_found(api: Api) -> None:
    error = await api.error("mutation { updateShopSettings(shopId: 42, settings: "
                            "{sessionTimeoutSeconds: 5}) { shopId } }", key=ADMIN_KEY)
    assert error["extensions"]["code"] == "NOT_FOUND"


# -- who may administer --------------------------------------------------------------

SHOP_MUTATIONS = {
    "updateShopSettings": "mutation { updateShopSettings(shopId: 1, settings: "
                          "{sessionTimeoutSeconds: 60}) { shopId } }",
    "addEventSource": 'mutation { addEventSource(shopId: 1, sourceId: "x", name: "X") '
                      "{ shopId } }",
    "issueIdentityToken": 'mutation { issueIdentityToken(shopId: 1, userId: "alice") }',
    "importEvents": "mutation { importEvents(shopId: 1, events: [{type: VISIT, context: "
                    '{shopId: 1, visitorId: "v9"}}]) { eventId } }',
    "forgetCustomer": 'mutation { forgetCustomer(shopId: 1, userId: "alice") }',
}
CREATE = 'mutation { createShop(name: "New", shopId: 9) { apiKey } }'


@pytest.fixture
async def other_key(api: Api, shop: dict) -> str:
    data = await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    return data["createShop"]["apiKey"]


async def shop_unchanged(api: Api) -> None:
    data = await api.admin('{ shop(shopId: 1) { settings { sessionTimeoutSeconds } '
                           'sources { sourceId } } events(shopId: 1) { nodes { eventId } } }')
    assert data["shop"]["settings"]["sessionTimeoutSeconds"] == 1800
    assert [s["sourceId"] for s in data["shop"]["sources"]] == ["site"]
    assert data["events"]["nodes"] == []


@pytest.mark.parametrize("name", list(SHOP_MUTATIONS))
@pytest.mark.parametrize("key", [None, "sk_1_forged", "nonsense"])
async def test_admin_mutation_without_a_valid_key_is_unauthenticated(
    api: Api, shop: dict, name: str, key: str | None
) -> None:
    body = await api.post(SHOP_MUTATIONS[name], key=key)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["data"] is None
    await shop_unchanged(api)


@pytest.mark.parametrize("name", list(SHOP_MUTATIONS))
async def test_admin_mutation_with_another_shops_key_is_forbidden(
    api: Api, other_key: str, name: str
) -> None:
    body = await api.post(SHOP_MUTATIONS[name], key=other_key)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["data"] is None
    await shop_unchanged(api)


@pytest.mark.parametrize("name", list(SHOP_MUTATIONS))
@pytest.mark.parametrize("who", ["admin", "own"])
async def test_admin_mutation_with_admin_or_own_key_answers(
    api: Api, shop: dict, name: str, who: str
) -> None:
    body = await api.post(SHOP_MUTATIONS[name], key=ADMIN_KEY if who == "admin" else shop["key"])
    assert not body.get("errors"), body
    assert body["data"][name] is not None


@pytest.mark.parametrize("key", [None, "nonsense"])
async def test_create_shop_without_a_valid_key_is_unauthenticated(
    api: Api, key: str | None
) -> None:
    body = await api.post(CREATE, key=key)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["data"] is None


async def test_create_shop_with_a_shop_key_is_forbidden(api: Api, shop: dict) -> None:
    body = await api.post(CREATE, key=shop["key"])
    error = body["errors"][0]
    assert error["extensions"]["code"] == "FORBIDDEN" and "admin" in error["message"]
    assert body["data"] is None
    assert (await api.admin("{ shop(shopId: 9) { shopId } }"))["shop"] is None


# -- the demo shop -------------------------------------------------------------------


async def start_demo(platform: Platform) -> tuple[Any, list[Any]]:
    started: list[Any] = []
    app = create_app(platform.settings.with_(demo_shop=True), platform=platform,
                     run_workers=False, on_started=started.append)
    return app, started


async def test_demo_shop_is_ready_at_start(platform: Platform) -> None:
    app, started = await start_demo(platform)
    async with running(app) as served:
        [(shop_id, key)] = started
        assert shop_id == 1
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
            api = Api(http)
            assert not (await visit(api, sourceId="site")).get("errors")
            data = await api.data("{ shop(shopId: 1) { defaultSourceId sources { sourceId } } "
                                  "events(shopId: 1) { nodes { sourceId } } }", key=key)
    assert data["shop"] == {"defaultSourceId": "site", "sources": [{"sourceId": "site"}]}
    assert data["events"]["nodes"] == [{"sourceId": "site"}]


async def test_demo_shop_survives_a_restart_with_a_fresh_key(platform: Platform) -> None:
    app, started = await start_demo(platform)
    async with running(app):
        pass
    await platform.shops.update_settings(1, {"session_timeout_seconds": 7})
    again, restarted = await start_demo(platform)
    async with running(again) as served:
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
            data = await Api(http).data("{ shop(shopId: 1) { settings { sessionTimeoutSeconds } "
                                        "} }", key=restarted[0][1])
    assert data["shop"]["settings"]["sessionTimeoutSeconds"] == 7
    assert restarted[0][1] != started[0][1]


async def test_no_demo_shop_unless_asked(api: Api) -> None:
    assert (await api.admin("{ shop(shopId: 1) { shopId } }"))["shop"] is None
    body = await visit(api)
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"


async def test_allowed_origins_refuse_events_from_other_sites(api: Api, shop: dict) -> None:
    await api.data(UPDATE % "{ shopId }", {"s": {"allowedOrigins": ["https://shop.test"]}},
                   key=shop["key"])
    query = "mutation($c: TrackContext!) { startVisit(context: $c) { eventId } }"
    ok = await api.post(query, {"c": {"shopId": 1, "visitorId": "v1"}},
                        headers={"origin": "https://shop.test"})
    assert not ok.get("errors"), ok
    refused = await api.post(query, {"c": {"shopId": 1, "visitorId": "v2"}},
                             headers={"origin": "https://evil.test"})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    data = await api.data("{ events(shopId: 1) { nodes { visitorId } } }", key=shop["key"])
    assert data["events"]["nodes"] == [{"visitorId": "v1"}]
