"""`GET /metrics`: the admin key only, the contract's series, moving by the right amounts,
and labels that stay bounded however many visitors and products there are."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.server.fastpath import TRACKER_DOCUMENT
from tests.support.api import ADMIN_KEY
from tests.support.live import (
    LiveServer,
    Subscriber,
    eventually,
    open_shop,
    serving,
    track,
    wait_subscribed,
)
from tests.support.scrape import delta, scrape
from tests.support.webhook_helpers import FAST, add_endpoint, settled, until
from tests.support.webhook_receiver import Receiver

CONTRACT_SERIES = {
    "tracker_events_total": "counter", "tracker_request_duration_seconds": "histogram",
    "tracker_storage_duration_seconds": "histogram", "tracker_triggers_total": "counter",
    "tracker_webhook_deliveries_total": "counter", "tracker_worker_lag_seconds": "gauge",
    "tracker_subscriptions": "gauge", "tracker_broker_up": "gauge", "tracker_storage_up": "gauge",
}


def views(shop_id: int, visitors: list[str], products: list[str]) -> list[dict[str, Any]]:
    return [{"type": "PRODUCT_VIEW", "productId": p, "categoryId": "c1",
             "context": {"shopId": shop_id, "visitorId": v}} for v, p in zip(visitors, products,
                                                                           strict=True)]


async def send(server: LiveServer, events: list[dict[str, Any]]) -> httpx.Response:
    """As the tracker sends them: its own document, through the fast path."""
    response = await server.http.post("/graphql", json={"query": TRACKER_DOCUMENT,
                                                        "variables": {"e": events}})
    assert response.status_code == 200, response.text
    return response


async def test_metrics_answer_the_admin_key_only() -> None:
    async with serving() as server:
        key = await open_shop(server)
        assert (await server.http.get("/metrics")).status_code == 401
        wrong = await server.http.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        shop = await server.http.get("/metrics", headers={"authorization": f"Bearer {key}"})
        assert shop.status_code == 403
        page = await scrape(server.http, ADMIN_KEY)
    for name, kind in CONTRACT_SERIES.items():
        family = name.removesuffix("_total")
        assert page.types.get(family) == kind, (name, page.types.get(family))


async def test_the_contract_series_have_values_a_scrape_can_read() -> None:
    async with serving() as server:
        await open_shop(server)
        page = await scrape(server.http)
    assert page.value("tracker_storage_up") == 1
    assert page.value("tracker_broker_up") == 1
    workers = {v for (n, ls), _ in page.samples.items() if n == "tracker_worker_lag_seconds"
               for k, v in ls if k == "worker"}
    assert {"abandoned_carts", "abandoned_sessions", "audiences", "outbox",
            "webhook_deliveries"} <= workers
    assert all(page.value("tracker_worker_lag_seconds", worker=w) == 0 for w in workers)


async def test_requests_and_storage_calls_move_their_histograms_by_the_right_amounts() -> None:
    async with serving() as server:
        key = await open_shop(server)
        before = await scrape(server.http)
        for i in range(3):
            await send(server, views(1, [f"v{i}"], [f"p{i}"]))
        await server.graphql("query { shop(shopId: 1) { shopId } }", key=key)
        after = await scrape(server.http)
    count = "tracker_request_duration_seconds_count"
    assert delta(before, after, count, kind="track") == 3
    assert delta(before, after, count, kind="query") == 1
    assert delta(before, after, "tracker_requests_total", kind="track", status="2xx") == 3
    # The storage series count every round trip the server made in between, by collection.
    stored = delta(before, after, "tracker_storage_duration_seconds_count", collection="events")
    assert stored >= 3
    assert after.total("tracker_storage_duration_seconds_sum") > \
        before.total("tracker_storage_duration_seconds_sum")


async def test_a_track_mutation_through_graphql_counts_as_track() -> None:
    async with serving(fast_path=False) as server:
        await open_shop(server)
        before = await scrape(server.http)
        await send(server, views(1, ["v1"], ["p1"]))
        await server.graphql("mutation { createShop(name: \"B\", shopId: 2) { apiKey } }",
                             key=ADMIN_KEY)
        after = await scrape(server.http)
    count = "tracker_request_duration_seconds_count"
    assert delta(before, after, count, kind="track") == 1
    assert delta(before, after, count, kind="mutation") == 1


async def test_open_subscriptions_are_counted_while_open() -> None:
    async with serving() as server:
        key = await open_shop(server)
        before = (await scrape(server.http)).value("tracker_subscriptions")
        async with Subscriber(server.ws_url, key), Subscriber(server.ws_url, key):
            await wait_subscribed(server, 2)
            during = (await scrape(server.http)).value("tracker_subscriptions")
        await eventually(lambda: server.platform.broker.subscriber_count("triggers:1") == 0,
                         "the subscriptions were closed")
        after = (await scrape(server.http)).value("tracker_subscriptions")
    assert during - before == 2
    assert after == before


async def test_no_label_grows_with_visitors_or_products() -> None:
    # 1,000 events from one test client: its address's tracker limit is not what this is about.
    now = datetime.now(UTC)
    report = ("query($from: DateTime!, $to: DateTime!) { stats(shopId: 1, from: $from, "
              "to: $to) { totals { visitors } } topProducts(shopId: 1, from: $from, to: $to) "
              "{ productId } funnel(shopId: 1, from: $from, to: $to) { sessions } }")
    span = {"from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(hours=2)).isoformat()}
    async with serving(rate_tracker_per_ip=10**6, burst_tracker_per_ip=10**6) as server:
        key = await open_shop(server)
        visitors = [f"visitor-{n:04d}" for n in range(1000)]
        products = [f"product-{n:04d}" for n in range(1000)]
        # Every series a visitor's views and their fold make, made before the count
        # starts, whichever tests ran before (or none: this file alone).
        await send(server, views(1, ["warm"], ["warm"]))
        await server.graphql(report, span, key=key)
        await scrape(server.http)
        pages = []
        for half in (0, 500):
            for start in range(half, half + 500, 100):
                await send(server, views(1, visitors[start:start + 100],
                                         products[start:start + 100]))
            await server.graphql(report, span, key=key)  # folds what they stored
            pages.append(await scrape(server.http))
        text = (await server.http.get(
            "/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"})).text
    page = pages[1]
    assert page.total("tracker_storage_duration_seconds_count", collection="events") >= 10
    assert not re.search(r"visitor-\d{4}|product-\d{4}", text), "an id became a label"
    labels = page.label_values()
    assert not {name for name in labels if re.search(r"shop|visitor|product|url|user", name)}
    assert set(labels) <= {"type", "outcome", "kind", "status", "collection", "operation",
                           "worker", "le"}
    assert all(len(values) < 60 for values in labels.values()), \
        {k: len(v) for k, v in labels.items()}
    # The registry is the process's: other tests' series are in it too, so what counts is
    # that 500 more visitors and products added (next to) no series.
    series = [{k for k in p.samples if k[0].startswith("tracker_")} for p in pages]
    assert len(series[1] - series[0]) < 50, sorted(series[1] - series[0])[:10]


async def test_events_count_once_each_by_type_and_outcome() -> None:
    async with serving() as server:
        await open_shop(server)
        before = await scrape(server.http)
        fresh = [{**e, "context": {**e["context"], "eventId": f"ev{n}"}}
                 for n, e in enumerate(views(1, ["a", "b", "c"], ["p1", "p2", "p3"]))]
        await send(server, fresh)
        await send(server, fresh[:1])  # a retry of the first: a duplicate
        await send(server, views(999, ["d"], ["p4"]))  # no such shop: rejected
        added = await send(server, [{"type": "CART_ADD", "productId": "p1", "categoryId": "c1",
                                     "quantity": 1, "price": 10.0,
                                     "context": {"shopId": 1, "visitorId": "a"}}])
        assert not added.json().get("errors"), added.json()
        after = await scrape(server.http)
    events = "tracker_events_total"
    assert delta(before, after, events, type="PRODUCT_VIEW", outcome="stored") == 3
    assert delta(before, after, events, type="PRODUCT_VIEW", outcome="duplicate") == 1
    assert delta(before, after, events, type="PRODUCT_VIEW", outcome="rejected") == 1
    assert delta(before, after, events, type="CART_ADD", outcome="stored") == 1
    assert delta(before, after, events) == 6


async def test_triggers_count_once_and_deliveries_by_outcome() -> None:
    async with Receiver() as receiver, serving(**FAST) as server:
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "hook", answers=[500, 200],
                           types=["CUSTOM_EVENT"])
        before = await scrape(server.http)
        await track(server, "CUSTOM", eventName="signup", visitor="v1", eventId="once")
        await track(server, "CUSTOM", eventName="signup", visitor="v1", eventId="once")
        await until(lambda: settled(server, key, 1), "the delivery was made")
        after = await scrape(server.http)
    assert delta(before, after, "tracker_triggers_total", type="CUSTOM_EVENT") == 1
    assert delta(before, after, "tracker_triggers_total") == 1
    deliveries = "tracker_webhook_deliveries_total"
    assert delta(before, after, deliveries, outcome="retry") == 1  # the 500
    assert delta(before, after, deliveries, outcome="delivered") == 1
    assert delta(before, after, deliveries) == 2


async def test_the_embedded_stores_cpu_counts_its_scans_in_worker_threads_too() -> None:
    # A find on the embedded store runs in a worker thread (app/backends/reads.py): its CPU
    # is the store's as much as an update's in the server's thread.
    from app.backends.metrics import sample
    from app.backends.storage import open_storage
    from app.indexes import INDEXES

    storage = open_storage("mongomock://", INDEXES, db_name="scan_cpu")
    try:
        await storage.events.insert_many([{"_id": f"1:{i}", "shopId": 1, "n": i}
                                          for i in range(20_000)])
        before = sample("tracker_embedded_storage_cpu_seconds_total")
        found = await storage.events.find({"shopId": 1, "n": {"$gte": 19_990}}).off_loop(
        ).to_list(None)
        after = sample("tracker_embedded_storage_cpu_seconds_total")
    finally:
        await storage.drop()
        storage.close()
    assert len(found) == 10
    assert after - before > 0.005  # a scan of 20,000 documents: milliseconds at least


async def test_a_duplicate_is_an_answer_counted_apart_not_a_storage_error() -> None:
    # Idempotent writes meet their duplicates by design: a retried batch's events, and a
    # fold's presences of visitors already counted in the hour. Counted as storage
    # errors, they would fire TrackerStorageErrors on every busy deployment.
    now = datetime.now(UTC)
    span = {"from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(hours=2)).isoformat()}
    stats = ("query($from: DateTime!, $to: DateTime!) { stats(shopId: 1, from: $from, "
             "to: $to) { totals { visitors } } }")
    async with serving() as server:
        key = await open_shop(server)
        first = [{**e, "context": {**e["context"], "eventId": f"d{n}"}}
                 for n, e in enumerate(views(1, ["a", "b"], ["p1", "p2"]))]
        await send(server, first)
        await server.graphql(stats, span, key=key)  # folds: a and b counted this hour
        before = await scrape(server.http)
        await send(server, first)  # a retry: both events duplicates
        await send(server, views(1, ["a", "b"], ["p3", "p4"]))
        folded = await server.graphql(stats, span, key=key)  # their presences are there
        after = await scrape(server.http)
    assert folded["stats"]["totals"]["visitors"] == 2
    assert delta(before, after, "tracker_storage_duration_seconds_count",
                 collection="rollupSeen") >= 1
    assert delta(before, after, "tracker_storage_errors_total") == 0
    # They are counted on their own: an operator sees how often writes meet their twins.
    assert delta(before, after, "tracker_storage_duplicates_total", collection="events") >= 1
    assert delta(before, after, "tracker_storage_duplicates_total", collection="rollupSeen") >= 1
    assert delta(before, after, "tracker_storage_duplicates_total", collection="shops") == 0
