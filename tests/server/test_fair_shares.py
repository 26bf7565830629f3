"""One key or one request cannot stall everyone (issue 22, items 1 to 3).

The fair-share tests put a noisy client's work and another client side by side and
assert that the other client is answered while the noise goes on (never a timed
assertion; bench/fair.py measures the latency ratios).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.api import ADMIN_KEY
from tests.support.live import LiveServer, open_shop, serving

YEAR = {"from": "2025-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
STATS = ("stats(shopId: 1, from: $from, to: $to) { buckets { start visitors sessions } "
         "totals { visitors } }")
FIELDS = {
    "stats": STATS,
    "funnel": "funnel(shopId: 1, from: $from, to: $to) { sessions withCheckout }",
    "topProducts": "topProducts(shopId: 1, from: $from, to: $to) { productId views }",
}


def aliases(field: str, count: int) -> str:
    body = " ".join(f"a{i}: {FIELDS[field]}" for i in range(count))
    return "query($from: DateTime!, $to: DateTime!) { " + body + " }"


async def answer(server: LiveServer, query: str, variables: dict[str, Any] | None = None,
                 key: str | None = ADMIN_KEY) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    response = await server.http.post("/graphql", headers=headers,
                                      json={"query": query, "variables": variables or {}})
    assert response.status_code < 500, response.text
    return response.json()


async def answered_meanwhile(server: LiveServer, noise: asyncio.Task[Any]) -> int:
    """How many times another client got /healthz answered before the noise ended."""
    count = 0
    while not noise.done():
        response = await server.http.get("/healthz")
        if not noise.done():
            count += response.status_code == 200
    return count


# -- item 1: analytics cost by range and buckets, every alias counted -----------------------

async def test_thirty_aliases_of_a_year_of_analytics_are_refused_with_their_cost() -> None:
    async with serving() as server:
        key = await open_shop(server)
        errors = {field: (await answer(server, aliases(field, 30), YEAR, key))["errors"]
                  for field in FIELDS}
        literal = await answer(server, "{" + aliases("stats", 30).split("{", 1)[1]
                               .replace("$from", '"2025-03-01T00:00:00Z"')
                               .replace("$to", '"2026-03-01T00:00:00Z"'), None, key)
    for field, [error] in errors.items():
        ext = error["extensions"]
        assert ext["code"] == "BAD_INPUT", field
        assert ext["cost"] > ext["maxCost"], field
    assert literal["errors"][0]["extensions"]["cost"] == errors["stats"][0]["extensions"]["cost"]


async def test_a_years_overview_of_the_dashboard_is_within_the_cost() -> None:
    overview = ("query($from: DateTime!, $to: DateTime!) { " + " ".join(FIELDS.values()) +
                " topCategories(shopId: 1, from: $from, to: $to) { categoryId views } }")
    async with serving() as server:
        key = await open_shop(server)
        body = await answer(server, overview, YEAR, key)
        week = await answer(server, aliases("stats", 30),
                            {"from": "2026-02-22T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, key)
    assert not body.get("errors"), body
    assert not week.get("errors"), week  # a week is cheap: 30 of them pass


# -- item 1: the embedded store's aggregations leave the event loop free, within a budget ----

async def seed_events(server: LiveServer, count: int) -> None:
    """`count` events of shop 1 over the last year, written straight to the store, waiting
    for the analytics rollups' fold when those are on."""
    assert server.platform is not None
    start = datetime(2025, 3, 2, tzinfo=UTC)
    pending = {"rolled": False} if server.platform.settings.analytics_rollups else {}
    docs = [{"_id": f"e{i}", "shopId": 1, "type": "PRODUCT_VIEW", "visitorId": f"v{i % 997}",
             "sessionId": f"v{i % 997}.{i}", "productId": f"p{i % 50}",
             "occurredAt": start + timedelta(minutes=5 * i), **pending} for i in range(count)]
    await server.platform.storage.events.insert_many(docs)


# The reports read the rollups (app/analytics/reports.py); with them off they aggregate the
# raw events of the range (app/analytics/recount.py, also used for a range's partial edge
# hours), the heaviest work a report can do on the embedded store: these two hold it.
async def test_a_heavy_analytics_request_leaves_other_clients_answered() -> None:
    async with serving(max_query_cost=10**7, analytics_rollups=False) as server:
        key = await open_shop(server)
        await seed_events(server, 15_000)
        noise = asyncio.create_task(answer(server, aliases("topProducts", 2), YEAR, key))
        meanwhile = await answered_meanwhile(server, noise)
        body = await noise
    assert not body.get("errors"), body
    assert body["data"]["a0"][0]["views"] > 0
    assert meanwhile >= 5  # before: 0, the aggregation held the event loop


async def test_the_time_budget_stops_an_embedded_aggregation() -> None:
    async with serving(max_query_cost=10**7, request_timeout_seconds=0.3,
                       analytics_rollups=False) as server:
        key = await open_shop(server)
        # Scans far longer than the budget and its grace (app/backends/reads.py GRACE): with
        # 15,000 they took about the budget, ended inside the grace, and were not stopped.
        await seed_events(server, 60_000)
        storage = server.platform.storage
        body = await answer(server, aliases("topProducts", 2), YEAR, key)
        error = body["errors"][0]
        assert error["extensions"]["code"] == "INTERNAL"
        assert error["extensions"]["timeoutSeconds"] == 0.3
        # The work itself was ended at the budget, not left running behind the answer.
        for _ in range(500):
            if storage.reads.running == 0:
                break
            await asyncio.sleep(0.02)
        assert storage.reads.running == 0
        assert storage.reads.stopped >= 1
