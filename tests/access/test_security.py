"""Secrets stay secret; internal errors are traceable without leaking; switches work."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from app.analytics import reading
from app.platform import Platform
from app.server.asgi import create_app
from tests.support.api import ADMIN_KEY, Api, running


async def test_shop_keys_are_stored_only_as_hashes(api: Api, shop: dict,
                                                   platform: Platform) -> None:
    stored = await platform.storage.shops.find_one({"_id": 1})
    assert shop["key"] not in repr(stored)
    assert len(stored["keyHashes"]) == 1 and len(stored["keyHashes"][0]) == 64


async def test_newsletter_token_is_not_stored_in_urls(api: Api, shop: dict) -> None:
    token = (await api.admin('mutation { issueIdentityToken(shopId: 1, userId: "u1") }'))[
        "issueIdentityToken"]
    url = f"https://shop.example/p?utm_source=mail&smc_token={token}&x=1"
    await api.data("mutation($c: TrackContext!) { startVisit(context: $c) { userId } }",
                   {"c": {"shopId": 1, "visitorId": "v1", "url": url, "identityToken": token}})
    events = await api.data("{ events(shopId: 1) { nodes { url userId } } }", key=shop["key"])
    [event] = events["events"]["nodes"]
    assert event == {"url": "https://shop.example/p?utm_source=mail&x=1", "userId": "u1"}
    sessions = await api.data("{ sessions(shopId: 1) { nodes { landingUrl } } }",
                              key=shop["key"])
    assert token not in sessions["sessions"]["nodes"][0]["landingUrl"]


async def test_internal_error_carries_an_id_that_is_logged(
    api: Api, shop: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(reading, "visitor", broken)
    with caplog.at_level(logging.ERROR, logger="tracker.graphql"):
        error = await api.error('{ visitor(shopId: 1, visitorId: "v") { visitorId } }',
                                key=shop["key"])
    assert error["extensions"]["code"] == "INTERNAL"
    error_id = error["extensions"]["errorId"]
    assert error_id in error["message"]
    assert "secret detail" not in str(error)
    assert any(error_id in r.getMessage() for r in caplog.records)


async def test_keys_never_reach_the_logs(
    api: Api, shop: dict, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await api.post("{ shop(shopId: 1) { name } }", key=shop["key"])
        await api.post("{ shop(shopId: 1) { name } }", key="sk_1_wrong")
    assert shop["key"] not in caplog.text and "sk_1_wrong" not in caplog.text


@pytest.fixture
async def locked_down(platform: Platform) -> Any:
    settings = platform.settings.with_(graphiql=False, introspection=False)
    platform.settings = settings
    app = create_app(settings, platform=platform, run_workers=False)
    async with running(app) as served, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=served), base_url="http://t"
    ) as http:
        yield http


async def test_introspection_and_graphiql_can_be_turned_off(locked_down: httpx.AsyncClient) -> None:
    page = await locked_down.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 404 or "graphiql" not in page.text.lower()
    answer = await locked_down.post(
        "/graphql", json={"query": "{ __schema { types { name } } }"},
        headers={"authorization": f"Bearer {ADMIN_KEY}"})
    body = answer.json()
    assert answer.status_code < 500
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert not body.get("data")


async def test_graphiql_and_introspection_on_in_embedded_mode(api: Api) -> None:
    page = await api.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    body = await api.post("{ __schema { queryType { name } } }")
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
