"""Webhook endpoints, the delivery log and replay, over the GraphQL API."""

from __future__ import annotations

import asyncio
import base64
import socket
from typing import Any

import pytest

from app.platform import Platform
from app.triggers import model as triggers
from tests.support.api import Api

ADD = """mutation($s: Int!, $url: String!, $types: [TriggerType!], $names: [String!]) {
  addWebhookEndpoint(shopId: $s, url: $url, types: $types, names: $names) {
    secret endpoint { endpointId url types names enabled disabledReason createdAt } } }"""
LIST = """query { webhookEndpoints(shopId: 1) { endpointId url types names enabled
  disabledReason } }"""
UPDATE = """mutation($e: ID!, $url: String, $types: [TriggerType!], $names: [String!],
  $enabled: Boolean) { updateWebhookEndpoint(shopId: 1, endpointId: $e, url: $url,
  types: $types, names: $names, enabled: $enabled) { endpointId url types names enabled
  disabledReason } }"""
DELETE = "mutation($e: ID!) { deleteWebhookEndpoint(shopId: 1, endpointId: $e) }"
REDELIVER = "mutation($e: ID!, $after: ID) { redeliverWebhooks(shopId: 1, endpointId: $e, " \
    "after: $after) }"
LOG = """query($e: ID, $st: [DeliveryStatus!], $first: Int, $after: String) {
  webhookDeliveries(shopId: 1, endpointId: $e, status: $st, first: $first, after: $after) {
    nodes { deliveryId endpointId triggerId status attempts nextAttemptAt }
    pageInfo { hasNextPage endCursor } } }"""
PUBLIC = "https://93.184.215.14/hooks"  # a public address: no DNS needed


async def add(api: Api, key: str, url: str = PUBLIC, **filters: Any) -> dict[str, Any]:
    data = await api.data(ADD, {"s": 1, "url": url, **filters}, key=key)
    return data["addWebhookEndpoint"]


async def endpoints(api: Api, key: str) -> list[dict[str, Any]]:
    return (await api.data(LIST, key=key))["webhookEndpoints"]


async def fire(platform: Platform, *names: str, type_: str = triggers.CUSTOM_EVENT) -> list[str]:
    docs = [triggers.make(f"1:{n}:{type_}", type_, 1, fired_at=platform.clock.now(),
                          visitor_id="v", user_id=None, name=n) for n in names]
    await platform.outbox.record(docs)
    return [d["_id"] for d in docs]


async def test_an_endpoint_is_added_with_a_secret_shown_once(api: Api, shop: dict) -> None:
    created = await add(api, shop["key"], types=["CUSTOM_EVENT", "CUSTOM_EVENT"],
                        names=["promo"])
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    endpoint = created["endpoint"]
    assert endpoint["url"] == PUBLIC and endpoint["enabled"] is True
    assert endpoint["types"] == ["CUSTOM_EVENT"] and endpoint["names"] == ["promo"]
    assert endpoint["disabledReason"] is None and endpoint["createdAt"]
    listed = await endpoints(api, shop["key"])
    assert listed == [{k: endpoint[k] for k in listed[0]}]
    again = await add(api, shop["key"])
    assert again["secret"] != secret


async def test_a_shop_has_at_most_20_endpoints(api: Api, shop: dict) -> None:
    ids = [(await add(api, shop["key"]))["endpoint"]["endpointId"] for _ in range(20)]
    error = await api.error(ADD, {"s": 1, "url": PUBLIC}, key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT" and "20" in error["message"]
    assert len(await endpoints(api, shop["key"])) == 20
    assert (await api.data(DELETE, {"e": ids[0]}, key=shop["key"]))["deleteWebhookEndpoint"]
    await add(api, shop["key"])
    assert len(await endpoints(api, shop["key"])) == 20


@pytest.mark.parametrize("url", [
    "", "ftp://example.com/x", "not a url", "https://", "http://[::1", "https://user:pw@93.184.215.14/",
    "http://93.184.215.14:99999/", "https://93.184.215.14/" + "x" * 3000, "javascript:alert(1)",
    "http://93.184.215.14/a b", "http://93.184.215.14:0/",
])
async def test_a_malformed_url_is_bad_input(api: Api, shop: dict, url: str) -> None:
    error = await api.error(ADD, {"s": 1, "url": url}, key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert await endpoints(api, shop["key"]) == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/", "http://localhost/", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://[fe80::1]/", "http://100.64.0.1/",
    "https://no-such-host.invalid/",
    # IPv4 inside IPv6, reached wherever NAT64, SIIT, 6to4 or Teredo translate it:
    "http://[::127.0.0.1]/", "http://[::ffff:0:127.0.0.1]/", "http://[64:ff9b::10.0.0.1]/",
    "http://[64:ff9b:1:a00:1::]/", "http://[64:ff9b:1::a00:1]/", "http://[2002:a9fe:a9fe::1]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
])
async def test_a_private_or_unresolvable_address_is_bad_input(
    api: Api, shop: dict, url: str
) -> None:
    error = await api.error(ADD, {"s": 1, "url": url}, key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["extensions"]["field"] == "url"
    assert await endpoints(api, shop["key"]) == []


def fake_dns(monkeypatch: pytest.MonkeyPatch, host: str, answer: list[str]) -> None:
    """`host` resolves to these addresses, in this order (other names as usual)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(name: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if name != host:
            return await real(name, port, *args, **kwargs)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in answer]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("answer", [
    ["93.184.215.14", "10.0.0.5"], ["93.184.215.14", "2606:2800:220:1::1", "127.0.0.1"],
    ["169.254.169.254", "93.184.215.14"],
])
async def test_a_host_name_with_any_private_address_among_several_is_bad_input(
    api: Api, shop: dict, monkeypatch: pytest.MonkeyPatch, answer: list[str]
) -> None:
    """DNS may answer several addresses; one private address among them is enough to refuse
    (a check of the first alone would let the sender connect to the private one)."""
    fake_dns(monkeypatch, "several.example", answer)
    error = await api.error(ADD, {"s": 1, "url": "https://several.example/hook"},
                            key=shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["extensions"]["field"] == "url"
    assert await endpoints(api, shop["key"]) == []
    # The same name with public addresses only is accepted: the refusal was the address.
    fake_dns(monkeypatch, "several.example", [a for a in answer if not a.startswith(
        ("10.", "127.", "169.254."))])
    created = await add(api, shop["key"], url="https://several.example/hook")
    assert created["endpoint"]["url"] == "https://several.example/hook"


@pytest.mark.parametrize("url", [
    "http://[64:ff9b::93.184.215.14]/", "http://[2002:5db8:d70e::1]/",
    "http://[::ffff:93.184.215.14]/",
])
async def test_ipv6_carrying_a_public_ipv4_is_judged_by_it(api: Api, shop: dict, url: str) -> None:
    created = await add(api, shop["key"], url=url)
    assert created["endpoint"]["url"] == url


async def test_a_refusal_does_not_name_the_address_a_host_resolves_to(
    api: Api, shop: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant must not map the operator's internal DNS through the refusals."""
    fake_dns(monkeypatch, "db.internal.example", ["10.1.2.3"])
    for url in ("http://localhost:8080/", "http://db.internal.example/"):
        error = await api.error(ADD, {"s": 1, "url": url}, key=shop["key"])
        assert error["extensions"]["code"] == "BAD_INPUT"
        assert url.split("/")[2].split(":")[0] in error["message"]
        for address in ("127.0.0.1", "::1", "10.1.2.3"):
            assert address not in error["message"], error


async def test_private_addresses_are_allowed_when_the_setting_says_so(
    api: Api, shop: dict, platform: Platform
) -> None:
    platform.webhooks.settings = platform.settings.with_(webhook_allow_private=True)
    created = await add(api, shop["key"], url="http://127.0.0.1:9/hook")
    assert created["endpoint"]["url"] == "http://127.0.0.1:9/hook"


async def test_an_endpoint_is_updated_field_by_field(
    api: Api, shop: dict, platform: Platform
) -> None:
    key = shop["key"]
    created = await add(api, key)  # changes to the second endpoint leave this one as it is
    first = created["endpoint"]
    endpoint_id = (await add(api, key, types=["CUSTOM_EVENT"], names=["a"]))["endpoint"][
        "endpointId"]
    got = (await api.data(UPDATE, {"e": endpoint_id, "names": ["b", "c"]}, key=key))[
        "updateWebhookEndpoint"]
    assert got["types"] == ["CUSTOM_EVENT"] and got["names"] == ["b", "c"]
    got = (await api.data(UPDATE, {"e": endpoint_id, "types": [], "enabled": False},
                          key=key))["updateWebhookEndpoint"]
    assert got["types"] == [] and got["enabled"] is False
    assert got["disabledReason"] == "disabled by the shop"
    got = (await api.data(UPDATE, {"e": endpoint_id, "enabled": True,
                                   "url": "https://93.184.215.15/new"}, key=key))[
        "updateWebhookEndpoint"]
    assert got["enabled"] is True and got["disabledReason"] is None
    assert got["url"] == "https://93.184.215.15/new" and got["names"] == ["b", "c"]
    for variables in ({"url": "http://10.0.0.1/"}, {"names": [""]},
                      {"names": [f"n{i}" for i in range(101)]}, {"names": ["x" * 257]}):
        error = await api.error(UPDATE, {"e": endpoint_id, **variables}, key=key)
        assert error["extensions"]["code"] == "BAD_INPUT", variables
    rotated = (await api.data(
        "mutation($e: ID!) { rotateWebhookSecret(shopId: 1, endpointId: $e) { secret "
        "endpoint { endpointId } } }", {"e": endpoint_id}, key=key))["rotateWebhookSecret"]
    assert rotated["endpoint"]["endpointId"] == endpoint_id
    assert (await platform.webhooks.get(1, endpoint_id))["secret"] == rotated["secret"]
    assert (await platform.webhooks.get(1, first["endpointId"]))["secret"] == created["secret"]
    listed = await endpoints(api, key)
    assert listed[1] == got
    assert listed[0] == {k: first[k] for k in listed[0]}


async def test_unknown_endpoints_and_other_shops(api: Api, shop: dict) -> None:
    key = shop["key"]
    for query, variables in ((UPDATE, {"e": "ep_nope", "enabled": False}),
                             (REDELIVER, {"e": "ep_nope"}),
                             ("mutation { rotateWebhookSecret(shopId: 1, endpointId: \"x\") "
                              "{ secret } }", {})):
        error = await api.error(query, variables, key=key)
        assert error["extensions"]["code"] == "NOT_FOUND", query
    error = await api.error(DELETE, {"e": "ep_nope"}, key=key)  # as deleteTriggerRule answers
    assert error["extensions"]["code"] == "NOT_FOUND"
    other = (await api.admin('mutation { createShop(name: "B", shopId: 2) { apiKey } }'))[
        "createShop"]["apiKey"]
    for query in (LIST, LOG):
        error = await api.error(query, {}, key=other)
        assert error["extensions"]["code"] == "FORBIDDEN"
    error = await api.error(ADD, {"s": 1, "url": PUBLIC}, key=other)
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await api.error(ADD, {"s": 1, "url": PUBLIC})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    error = await api.error(ADD, {"s": 3, "url": PUBLIC}, key="test-admin-key")
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await endpoints(api, key) == []


async def test_the_delivery_log_pages_newest_first(
    api: Api, shop: dict, platform: Platform
) -> None:
    key = shop["key"]
    first = (await add(api, key))["endpoint"]["endpointId"]
    second = (await add(api, key, names=["t0"]))["endpoint"]["endpointId"]
    ids = []
    for i in range(7):
        ids += await fire(platform, f"t{i}")
        platform.clock.advance(seconds=1)
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await api.data(LOG, {"e": first, "first": 3, "after": after}, key=key))[
            "webhookDeliveries"]
        seen += page["nodes"]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert [d["triggerId"] for d in seen] == ids[::-1]
    assert {d["status"] for d in seen} == {"PENDING"} and {d["attempts"] for d in seen} == {0}
    assert all(d["deliveryId"] == f"{d['triggerId']}:{first}" for d in seen)
    both = (await api.data(LOG, {"first": 50}, key=key))["webhookDeliveries"]["nodes"]
    assert len(both) == 8 and [d["endpointId"] for d in both].count(second) == 1
    assert (await api.data(LOG, {"st": ["DELIVERED", "FAILED"]}, key=key))[
        "webhookDeliveries"]["nodes"] == []
    for variables in ({"first": 0}, {"first": 501}, {"after": "nonsense"}):
        error = await api.error(LOG, variables, key=key)
        assert error["extensions"]["code"] == "BAD_INPUT", variables


async def test_a_delivery_page_that_ends_on_the_last_one_has_no_next_page(
    api: Api, shop: dict, platform: Platform
) -> None:
    key = shop["key"]
    endpoint = (await add(api, key))["endpoint"]["endpointId"]
    for i in range(4):
        await fire(platform, f"t{i}")
        platform.clock.advance(seconds=1)
    page = (await api.data(LOG, {"e": endpoint, "first": 2}, key=key))["webhookDeliveries"]
    assert len(page["nodes"]) == 2 and page["pageInfo"]["hasNextPage"] is True
    page = (await api.data(LOG, {"e": endpoint, "first": 2, "after": page["pageInfo"][
        "endCursor"]}, key=key))["webhookDeliveries"]
    assert len(page["nodes"]) == 2 and page["pageInfo"]["hasNextPage"] is False
    page = (await api.data(LOG, {"e": endpoint, "first": 4}, key=key))["webhookDeliveries"]
    assert len(page["nodes"]) == 4 and page["pageInfo"]["hasNextPage"] is False


async def test_redeliver_queues_every_trigger_after_the_given_one(
    api: Api, shop: dict, platform: Platform
) -> None:
    key = shop["key"]
    endpoint_id = (await add(api, key, types=["CUSTOM_EVENT"]))["endpoint"]["endpointId"]
    ids = await fire(platform, "a", "b", "c", "d", "e")
    await fire(platform, "home", type_=triggers.SECTION_VISITED)  # not the endpoint's type
    deliveries = platform.storage.webhook_deliveries
    await deliveries.update_many({}, {"$set": {"status": "DELIVERED", "attempts": 1}})

    queued = await api.data(REDELIVER, {"e": endpoint_id, "after": ids[2]}, key=key)
    assert queued["redeliverWebhooks"] == 2
    pending = (await api.data(LOG, {"st": ["PENDING"]}, key=key))["webhookDeliveries"]["nodes"]
    assert sorted(d["triggerId"] for d in pending) == ids[3:]
    assert {d["attempts"] for d in pending} == {0}
    assert (await api.data(REDELIVER, {"e": endpoint_id}, key=key))["redeliverWebhooks"] == 5
    assert await deliveries.count_documents({}) == 5  # queued again, not twice

    error = await api.error(REDELIVER, {"e": endpoint_id, "after": "nope"}, key=key)
    assert error["extensions"]["code"] == "NOT_FOUND"
    await api.data(UPDATE, {"e": endpoint_id, "enabled": False}, key=key)
    error = await api.error(REDELIVER, {"e": endpoint_id}, key=key)
    assert error["extensions"]["code"] == "BAD_INPUT"


async def test_deleting_an_endpoint_deletes_its_deliveries(
    api: Api, shop: dict, platform: Platform
) -> None:
    key = shop["key"]
    gone = (await add(api, key))["endpoint"]["endpointId"]
    kept = (await add(api, key))["endpoint"]["endpointId"]
    await fire(platform, "a", "b")
    assert (await api.data(DELETE, {"e": gone}, key=key))["deleteWebhookEndpoint"] is True
    left = (await api.data(LOG, {}, key=key))["webhookDeliveries"]["nodes"]
    assert {d["endpointId"] for d in left} == {kept} and len(left) == 2
    assert [e["endpointId"] for e in await endpoints(api, key)] == [kept]


async def test_forgetting_a_customer_deletes_the_deliveries_of_its_triggers(
    api: Api, shop: dict, platform: Platform
) -> None:
    key = shop["key"]
    await add(api, key)
    now = platform.clock.now()
    await platform.outbox.record([
        triggers.make(f"1:u:{user}:1", triggers.ABANDONED_CART, 1, fired_at=now,
                      visitor_id="v", user_id=user) for user in ("alice", "bob")])
    assert len((await api.data(LOG, {}, key=key))["webhookDeliveries"]["nodes"]) == 2
    await api.data('mutation { forgetCustomer(shopId: 1, userId: "alice") }', key=key)
    left = (await api.data(LOG, {}, key=key))["webhookDeliveries"]["nodes"]
    assert [d["triggerId"] for d in left] == ["1:u:bob:1"]


async def test_deleting_an_endpoint_the_shop_does_not_have_is_not_found(
    api: Api, shop: dict
) -> None:
    key = shop["key"]
    mine = (await add(api, key))["endpoint"]["endpointId"]
    other = (await api.admin('mutation { createShop(name: "B", shopId: 2) { apiKey } }'))[
        "createShop"]["apiKey"]
    theirs = (await api.data(ADD, {"s": 2, "url": PUBLIC},
                             key=other))["addWebhookEndpoint"]["endpoint"]["endpointId"]
    for unknown in ("ep_nope", theirs):
        error = await api.error(DELETE, {"e": unknown}, key=key)
        assert error["extensions"]["code"] == "NOT_FOUND", unknown
        assert error["extensions"]["field"] == "endpointId"
    assert [e["endpointId"] for e in await endpoints(api, key)] == [mine]
    assert (await api.data(DELETE, {"e": mine}, key=key))["deleteWebhookEndpoint"] is True
    error = await api.error(DELETE, {"e": mine}, key=key)  # a second call
    assert error["extensions"]["code"] == "NOT_FOUND"
