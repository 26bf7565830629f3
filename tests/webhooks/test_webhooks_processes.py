"""Several server processes on one store: every delivery is made, each attempt by one
process; a server stopped mid-attempt leaves its deliveries to the next one."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from app.backends.storage import Storage
from app.platform import open_store
from tests.support.api import make_settings
from tests.support.live import LiveServer, eventually, open_shop, serving, track
from tests.support.webhook_helpers import FAST, add_endpoint, deliveries, settled, until
from tests.support.webhook_receiver import HANG, Receiver


@pytest.fixture
async def store() -> AsyncIterator[Storage]:
    settings = make_settings()
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    await storage.drop()
    yield storage
    await storage.drop()


async def test_a_server_stopped_mid_attempt_leaves_its_deliveries_to_the_next(
    store: Storage,
) -> None:
    count = 10
    async with Receiver() as receiver:
        # The first server's attempts hang (its timeout is far off) until it is stopped.
        async with serving(storage=store, **{**FAST, "webhook_timeout_seconds": 60}) as first:
            key = await open_shop(first)
            await add_endpoint(first, key, receiver, "hook", answers=[HANG])
            for i in range(count):
                await track(first, "CUSTOM", eventName=f"e{i}")
            await eventually(lambda: len(receiver.received) == count, "all were attempted")
        receiver.answers["hook"] = [200]
        async with serving(storage=store, **FAST) as second:
            await until(lambda: settled(second, key, count), "the second server delivered")
            logged = await deliveries(second, key)
    assert [d["status"] for d in logged] == ["DELIVERED"] * count
    assert all(r.verified for r in receiver.of("hook"))
    seen = Counter(receiver.ids("hook"))
    assert sorted(seen) == sorted(d["triggerId"] for d in logged)
    repeats = sum(seen.values()) - count
    assert repeats == count  # each cut-off attempt was made again, under the same webhook-id
    assert all(n == 2 for n in seen.values())
    bodies: dict[str, set[bytes]] = {}
    for r in receiver.of("hook"):
        bodies.setdefault(r.webhook_id, set()).add(r.body)
    assert all(len(b) == 1 for b in bodies.values())


async def test_two_servers_on_one_store_make_each_attempt_once(store: Storage) -> None:
    count = 40
    async with Receiver() as receiver, serving(storage=store, **FAST) as a:
        key = await open_shop(a)
        # The first answers of all fail: their retries are due on both servers at once.
        await add_endpoint(a, key, receiver, "hook", answers=[500] * 10 + [200])
        async with serving(storage=store, **FAST) as b:
            await both_servers(a, b, key, count)
            logged = await deliveries(b, key)
    assert [d["status"] for d in logged] == ["DELIVERED"] * count
    assert all(r.verified for r in receiver.of("hook"))
    seen = Counter(receiver.ids("hook"))
    assert sorted(seen) == sorted(d["triggerId"] for d in logged)
    # Each attempt logged was made once, by one of the two servers: what the receiver
    # got beyond one per trigger are the retries of the failed first answers.
    assert sum(seen.values()) == sum(d["attempts"] for d in logged) == count + 10
    assert sum(n - 1 for n in seen.values()) == 10


async def both_servers(a: LiveServer, b: LiveServer, key: str, count: int) -> None:
    """Events to both servers in turn, until every delivery is made."""
    for i in range(count):
        await track((a, b)[i % 2], "CUSTOM", eventName=f"e{i}", visitor=f"v{i % 2}")
    await until(lambda: settled(a, key, count), "every delivery was made")
