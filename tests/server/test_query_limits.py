"""What a query may ask for (issue 12, items 10 and 11): no schema hints with
introspection off, a cost limit, and a time budget per request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.analytics import reading
from tests.support.api import ADMIN_KEY
from tests.support.live import LiveServer, open_shop, serving
from tests.support.wsclient import WsClient

CUSTOMER = ("nodes { userId cart { items { productId } } orders { orderId items { productId } } "
            "interestMap(limit: 20) { products { productId } categories { categoryId } } }")


async def errors_of(server: LiveServer, query: str, variables: dict[str, Any] | None = None,
                    key: str | None = ADMIN_KEY) -> list[dict[str, Any]]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    answer = await server.http.post("/graphql", headers=headers,
                                    json={"query": query, "variables": variables or {}})
    assert answer.status_code < 500, answer.text
    return answer.json().get("errors") or []


# -- item 10: no "Did you mean" when introspection is off -------------------------------------

MISSPELT = [
    ("{ shop(shopId: 1) { identifySecre } }", None),
    ("{ shop(shopID: 1) { name } }", None),
    ("{ events(shopId: 1, types: [VISITT]) { nodes { type } } }", None),
    ("mutation($c: TrackContext!) { startVisit(context: $c) { eventId } }",
     {"c": {"shopId": 1, "visitorID": "v"}}),
    ("{ shop(shopId: 1) { ...F } } fragment F on Shopp { name }", None),
]


@pytest.mark.parametrize("introspection", [True, False])
async def test_field_suggestions_only_with_introspection(introspection: bool) -> None:
    async with serving(introspection=introspection) as server:
        await open_shop(server)
        messages = [e["message"] for q, v in MISSPELT for e in await errors_of(server, q, v)]
    assert len(messages) >= len(MISSPELT)
    hints = [m for m in messages if "Did you mean" in m]
    if introspection:
        assert len(hints) == len(MISSPELT)  # the hint is there to be removed
    else:
        assert hints == []
        assert "identifySecret" not in " ".join(messages)


# -- item 11: cost and time --------------------------------------------------------------------

def _aliases(count: int, first: str = "500") -> str:
    return "{ " + " ".join(f"c{i}: customers(shopId: 1, first: {first}) {{ {CUSTOMER} }}"
                           for i in range(count)) + " }"


async def test_thirty_aliases_of_500_customers_are_refused_with_their_cost() -> None:
    async with serving() as server:
        key = await open_shop(server)
        [error] = await errors_of(server, _aliases(30), key=key)
        via_variable = await errors_of(server, "query($n: Int) " + _aliases(30, "$n"),
                                       {"n": 500}, key=key)
    ext = error["extensions"]
    assert ext["code"] == "BAD_INPUT"
    assert ext["cost"] > ext["maxCost"]
    assert str(ext["cost"]) in error["message"] and str(ext["maxCost"]) in error["message"]
    assert via_variable[0]["extensions"]["cost"] == ext["cost"]


async def test_an_ordinary_dashboard_query_is_within_the_cost() -> None:
    async with serving() as server:
        key = await open_shop(server)
        assert await errors_of(server, _aliases(1, "500"), key=key) == []  # the largest page
        assert await errors_of(server, "{ events(shopId: 1, first: 500) { nodes { type "
                                       "occurredAt url properties } } }", key=key) == []


async def test_the_cost_limit_holds_over_a_websocket() -> None:
    async with serving() as server:
        key = await open_shop(server)
        async with WsClient(server.ws_url) as ws:
            await ws.init(key)
            answer = await ws.run("1", _aliases(30))
    assert answer["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "cost" in answer["errors"][0]["extensions"]


async def test_a_request_past_its_time_budget_is_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    never = asyncio.Event()

    async def stuck(*args: Any, **kwargs: Any) -> None:
        await never.wait()  # an injected pause that only the budget can end

    monkeypatch.setattr(reading, "customer", stuck)
    async with serving(request_timeout_seconds=0.3) as server:
        key = await open_shop(server)
        slow = asyncio.create_task(errors_of(
            server, '{ customer(shopId: 1, userId: "u") { userId } }', key=key))
        # Meanwhile the server serves others.
        tracked = await server.graphql(
            'mutation { startVisit(context: {shopId: 1, visitorId: "v"}) { eventId } }')
        [error] = await slow
    assert tracked["startVisit"]["eventId"]
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["extensions"]["timeoutSeconds"] == 0.3
    assert "time budget" in error["message"]
