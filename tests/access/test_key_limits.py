"""Keys and their limits, over a real uvicorn server (issue 12, items 4, 5, 6 and 8)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from app.shops.registry import Shops
from tests.support.api import ADMIN_KEY
from tests.support.live import GRAPHQL_WS, LiveServer, open_shop, serving
from tests.support.wsclient import WsClient

SHOP = "{ shop(shopId: 1) { name } }"
TRACK = "mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }"
HUGE_SHOP_KEY = "sk_" + "9" * 4301 + "_abc"  # past Python's 4,300-digit int() limit


async def post(server: LiveServer, body: dict[str, Any], authorization: str | None = None,
               http: httpx.AsyncClient | None = None) -> httpx.Response:
    headers = {"authorization": authorization} if authorization else {}
    return await (http or server.http).post("/graphql", json=body, headers=headers)


def code(response: httpx.Response) -> str | None:
    errors = response.json().get("errors")
    return errors[0]["extensions"]["code"] if errors else None


def from_address(server: LiveServer, address: str) -> httpx.AsyncClient:
    """A client whose connections come from another loopback address (127.0.0.0/8)."""
    return httpx.AsyncClient(base_url=server.http_url,
                             transport=httpx.AsyncHTTPTransport(local_address=address))


# -- item 4: the per-key limit counts every operation on a WebSocket -------------------------

async def test_each_websocket_operation_takes_a_token_of_its_key() -> None:
    async with serving(rate_api_per_key=0.001, burst_api_per_key=4) as server:
        key = await open_shop(server)
        async with WsClient(server.ws_url) as ws:
            assert (await ws.init(key))["type"] == "connection_ack"  # the first token
            answers = [await ws.run(str(i), SHOP) for i in range(6)]
    codes = [(a.get("errors") or [{}])[0].get("extensions", {}).get("code") for a in answers]
    assert codes == [None, None, None, "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"]
    assert answers[0]["data"] == {"shop": {"name": "Shop"}}
    assert answers[3]["data"] == {"shop": None}


# -- item 5: only a key that checks out lifts the tracker's body limit -----------------------

def _big_batch(visitor: str) -> dict[str, Any]:
    url = "https://shop.example/" + "x" * 1900
    events = [{"type": "VISIT", "context": {"shopId": 1, "visitorId": visitor, "url": url,
                                            "eventId": f"e{i}"}} for i in range(60)]
    return {"query": TRACK, "variables": {"e": events}}  # about 120 KB


async def test_a_key_that_does_not_check_out_keeps_the_64kb_limit() -> None:
    async with serving() as server:
        key = await open_shop(server)
        for authorization in ("Bearer nonsense", "Bearer sk_1_forged", "Basic YTpi",
                              f"Bearer {key}x", f"Bearer {HUGE_SHOP_KEY}"):
            answer = await post(server, _big_batch("v1"), authorization)
            assert answer.status_code == 413, (authorization[:20], answer.text[:200])
            assert code(answer) == "BAD_INPUT"
        stored = await server.graphql('{ events(shopId: 1) { nodes { eventId } } }', key=key)
        assert stored["events"]["nodes"] == []
        # The shop's own key (or the admin key) lifts it to 1 MB.
        for good in (key, ADMIN_KEY):
            answer = await post(server, _big_batch(f"v-{good[:3]}"), f"Bearer {good}")
            assert answer.status_code == 200 and len(answer.json()["data"]["track"]) == 60


# -- item 6: keys that cannot name a shop, guessing, and the shop cache ----------------------

async def test_a_key_with_a_4301_digit_shop_id_is_unauthenticated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving() as server:
        await open_shop(server)
        with caplog.at_level(logging.WARNING):
            answer = await post(server, {"query": SHOP}, f"Bearer {HUGE_SHOP_KEY}")
            async with WsClient(server.ws_url) as ws:
                await ws.send({"type": "connection_init",
                               "payload": {"authorization": f"Bearer {HUGE_SHOP_KEY}"}})
                close_code, reason = await ws.closed()
            async with WsClient(server.ws_url, GRAPHQL_WS) as legacy:
                refusal = await legacy.init(HUGE_SHOP_KEY)
                legacy_code, _ = await legacy.closed()
    assert answer.status_code == 200 and code(answer) == "UNAUTHENTICATED"
    assert close_code == 4403 and reason.startswith("UNAUTHENTICATED")
    assert refusal["type"] == "connection_error"
    assert refusal["payload"]["code"] == "UNAUTHENTICATED" and legacy_code is not None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_wrong_keys_are_limited_per_client_address() -> None:
    async with serving(rate_auth_failures_per_ip=0.001, burst_auth_failures_per_ip=3) as server:
        key = await open_shop(server)
        wrong = [await post(server, {"query": SHOP}, f"Bearer sk_1_guess{i}") for i in range(3)]
        wrong += [await post(server, {"query": SHOP}, f"Bearer {g}")
                  for g in ("adm_guess", "sk_1_guess4")]
        # While the address is blocked even the right key is refused: no oracle for guesses.
        right = await post(server, {"query": SHOP}, f"Bearer {key}")
        async with WsClient(server.ws_url) as ws:
            await ws.send({"type": "connection_init",
                           "payload": {"authorization": f"Bearer {key}"}})
            close_code, reason = await ws.closed()
        # Another address is not affected, and a missing key is not a guess.
        async with from_address(server, "127.0.0.2") as other:
            elsewhere = await post(server, {"query": SHOP}, f"Bearer {key}", http=other)
        anonymous = await post(server, {"query": SHOP})
    assert [code(a) for a in wrong] == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"] * 2
    assert [a.status_code for a in wrong] == [200, 200, 200, 429, 429]
    assert wrong[3].json()["errors"][0]["extensions"]["scope"] == "authentication"
    assert right.status_code == 429 and code(right) == "RATE_LIMITED"
    assert close_code == 4403 and reason.startswith("RATE_LIMITED")
    assert elsewhere.status_code == 200 and code(elsewhere) is None
    assert code(anonymous) == "UNAUTHENTICATED"


async def test_the_shop_cache_keeps_only_shops_that_exist() -> None:
    async with serving() as server:
        await open_shop(server)
        assert server.platform is not None
        shops = server.platform.shops
        for shop_id in range(2, 60):  # shops that do not exist, named by tracked events
            answer = await post(server, {"query": TRACK, "variables": {"e": [
                {"type": "VISIT", "context": {"shopId": shop_id, "visitorId": "v"}}]}})
            assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"
        assert shops.cached_ids() == [1]


async def test_the_shop_cache_forgets_the_least_recently_used() -> None:
    async with serving() as server:
        assert server.platform is not None
        for shop_id in range(1, 6):
            await server.graphql("mutation($i: Int!) { createShop(name: \"S\", shopId: $i) "
                                 "{ apiKey } }", {"i": shop_id}, key=ADMIN_KEY)
        shops = Shops(server.platform.storage, max_cached=3)
        for shop_id in (1, 2, 3, 1, 4, 5):
            assert await shops.get(shop_id) is not None
        assert sorted(shops.cached_ids()) == [1, 4, 5]


# -- item 8: the per-visitor bucket is the shop's ---------------------------------------------

async def test_a_busy_visitor_id_in_one_shop_is_not_limited_in_another() -> None:
    async with serving(rate_tracker_per_visitor=0.001, burst_tracker_per_visitor=2) as server:
        await open_shop(server, shop_id=1)
        await open_shop(server, shop_id=2)

        async def view(shop_id: int) -> int:
            answer = await post(server, {"query": TRACK, "variables": {"e": [
                {"type": "VISIT", "context": {"shopId": shop_id, "visitorId": "same"}}]}})
            return answer.status_code

        in_a = [await view(1) for _ in range(3)]
        in_b = [await view(2) for _ in range(3)]
    assert in_a == [200, 200, 429]
    assert in_b == [200, 200, 429]
