"""Deliveries queued with their triggers, claimed with a lease, and the endpoint's health.

Domain level, on a fake clock: what a crash between two writes leaves, what a
second process can claim, and when an endpoint failing for 5 days is disabled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from app.core.clock import FakeClock, utc
from app.platform import Platform
from app.settings import Settings
from app.triggers import model as triggers
from app.webhooks.endpoints import Webhooks
from app.webhooks.sender import Sender, parse_schedule
from tests.support.webhook_receiver import Receiver


def trigger(platform: Platform, name: str, shop_id: int = 1) -> dict[str, Any]:
    return triggers.make(f"{shop_id}:{name}", triggers.CUSTOM_EVENT, shop_id,
                         fired_at=platform.clock.now(), visitor_id="v", user_id=None, name=name)


async def endpoint(platform: Platform, url: str = "https://93.184.215.14/h",
                   shop_id: int = 1, **filters: Any) -> str:
    created, _ = await platform.webhooks.add(shop_id, url, filters.get("types"),
                                             filters.get("names"))
    return str(created["endpointId"])


async def test_recording_triggers_costs_one_round_trip_more_only_with_endpoints(
    platform: Platform,
) -> None:
    trips = platform.storage.trips

    async def cost(name: str, shop_id: int) -> dict[str, int]:
        trips.reset()
        await platform.outbox.store([trigger(platform, name, shop_id)])
        return dict(trips.by_collection)

    await endpoint(platform, shop_id=2)
    assert await cost("a", 1) == {"triggers": 1}
    assert await cost("b", 2) == {"triggers": 1, "webhook_deliveries": 1}


async def test_another_process_sees_a_new_endpoint_within_the_poll_interval(
    platform: Platform, clock: FakeClock,
) -> None:
    other = Webhooks(platform.storage, clock, platform.settings)  # another process's
    others_sender = Sender(platform.storage, clock, platform.settings, other)
    await other.sync()  # as a process does when it starts
    await endpoint(platform)  # added through this process
    doc = trigger(platform, "a")
    await others_sender.tick()
    assert await other.queue([doc]) == 0  # the other process has not synced since
    clock.advance(seconds=platform.settings.webhook_poll_seconds)
    await others_sender.tick()  # its sender syncs what changed
    platform.storage.trips.reset()
    assert await other.queue([doc]) == 1
    assert platform.storage.trips.by_collection == {"webhook_deliveries": 1}
    assert await platform.webhooks.queue([doc]) == 0  # the same delivery: queued once


async def test_a_retry_after_a_crash_between_the_two_inserts_queues_the_deliveries(
    platform: Platform, monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint_id = await endpoint(platform)
    deliveries = platform.storage.webhook_deliveries
    real = deliveries.insert_many
    calls = 0

    async def crash_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the process died here")
        return await real(*args, **kwargs)

    monkeypatch.setattr(deliveries, "insert_many", crash_once)
    doc = trigger(platform, "a")
    with pytest.raises(ConnectionError):
        await platform.outbox.record([dict(doc)])
    assert await platform.storage.triggers.count_documents({}) == 1
    assert await deliveries.count_documents({}) == 0
    assert await platform.outbox.record([dict(doc)]) == []  # the trigger: a duplicate...
    assert [d["_id"] for d in await deliveries.find({}).to_list(None)] == [
        f"1:a:{endpoint_id}"]  # ...its delivery: queued now
    await platform.outbox.record([dict(doc)])
    assert await deliveries.count_documents({}) == 1


async def test_the_sweeper_queues_what_a_dead_process_did_not(
    platform: Platform, clock: FakeClock,
) -> None:
    await endpoint(platform)
    doc = trigger(platform, "lost")
    doc["sortKey"] = f"{0:017d}:{doc['_id']}"
    await platform.storage.triggers.insert_one(doc)  # stored, then the process died
    clock.advance(seconds=10)
    assert await platform.outbox.sweep() == 1
    assert await platform.storage.webhook_deliveries.count_documents({}) == 1


async def test_a_claim_holds_until_its_lease_ends(platform: Platform, clock: FakeClock) -> None:
    await endpoint(platform)
    await platform.outbox.record([trigger(platform, f"t{i}") for i in range(5)])
    one = Sender(platform.storage, clock, platform.settings, platform.webhooks)
    other = Sender(platform.storage, clock, platform.settings, platform.webhooks)
    claimed = await one.claim(search=True)  # ...and the process dies before attempting
    assert len(claimed) == 5
    assert await other.claim(search=True) == []
    clock.advance(seconds=one.lease.total_seconds() - 1)
    assert await other.claim(search=True) == []
    clock.advance(seconds=1)
    assert sorted(d["_id"] for d in await other.claim(search=True)) == sorted(
        d["_id"] for d in claimed)


async def test_bounds_on_attempts_in_flight(platform: Platform) -> None:
    settings = platform.settings.with_(webhook_concurrency=5,
                                       webhook_concurrency_per_endpoint=2)
    busy = await endpoint(platform)
    calm = await endpoint(platform)
    await platform.outbox.record([trigger(platform, f"t{i}") for i in range(4)])
    sender = Sender(platform.storage, platform.clock, settings, platform.webhooks)
    claimed = await sender.claim()
    assert sorted(d["endpointId"] for d in claimed) == sorted([busy, busy, calm, calm])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


async def test_an_endpoint_failing_for_5_days_is_disabled(
    platform: Platform, clock: FakeClock, receiver: Receiver,
) -> None:
    settings = platform.settings.with_(webhook_allow_private=True,
                                       webhook_schedule="86400,86400,86400,86400,86400,86400")
    platform.webhooks.settings = settings
    endpoint_id = await endpoint(platform, receiver.url("down"))
    receiver.answers["down"] = [500, 500, 200, 500]
    sender = Sender(platform.storage, clock, settings, platform.webhooks)
    sender.open()

    async def day(*names: str) -> dict[str, Any]:
        if names:
            await platform.outbox.record([trigger(platform, n) for n in names])
        await sender.tick()
        await sender.settle()
        clock.advance(days=1)
        return await platform.webhooks.get(1, endpoint_id)

    assert (await day("a"))["failingSince"] is not None  # 500
    assert (await day())["failingSince"] is not None  # 500
    assert (await day())["failingSince"] is None  # 200: a success starts the count again
    since = clock.now()
    assert utc((await day("b"))["failingSince"]) == since  # 500
    receiver.answers["down"] = [500]
    for _ in range(4):
        got = await day()
        assert got["enabled"] is True
    got = await day("c")  # day 5 of failing everything
    assert got["enabled"] is False
    assert got["disabledReason"].startswith(f"every delivery failed since {since.isoformat()}")
    attempts = len(receiver.received)
    await day()
    assert len(receiver.received) == attempts  # nothing is attempted any more
    statuses = {d["triggerId"]: (d["status"], d.get("lastError")) for d in
                await platform.storage.webhook_deliveries.find({}).to_list(None)}
    assert statuses["1:a"][0] == "DELIVERED"
    assert statuses["1:c"][0] == "FAILED" and statuses["1:c"][1].startswith("endpoint disabled")
    await sender.stop()


def test_the_schedule_setting() -> None:
    assert parse_schedule(Settings().webhook_schedule) == [5, 300, 1800, 7200, 18000, 36000,
                                                          36000]
    assert parse_schedule("1, 2.5,") == [1, 2.5]
    assert parse_schedule("") == []
    for bad in ("a,b", "-1", "1e12", "nan"):
        with pytest.raises(ValueError, match="TRACKER_WEBHOOK_SCHEDULE"):
            parse_schedule(bad)
    env = {"TRACKER_WEBHOOK_SCHEDULE": "1,2", "TRACKER_WEBHOOK_TIMEOUT": "3"}
    settings = Settings.from_env(env)
    assert settings.webhook_schedule == "1,2" and settings.webhook_timeout_seconds == 3
    assert settings.webhook_allow_private is True  # embedded
    assert Settings.from_env({**env, "TRACKER_WEBHOOK_ALLOW_PRIVATE": "0"}
                             ).webhook_allow_private is False
    real = {"TRACKER_MONGODB_URL": "mongodb://db", "TRACKER_SECRET": "s"}
    assert Settings.from_env(real).webhook_allow_private is False
    assert Settings.from_env({**real, "TRACKER_WEBHOOK_ALLOW_PRIVATE": "1"}
                             ).webhook_allow_private is True


def test_the_lease_outlasts_an_attempt(platform: Platform) -> None:
    settings = platform.settings.with_(webhook_timeout_seconds=15)
    sender = Sender(platform.storage, platform.clock, settings, platform.webhooks)
    assert sender.lease > timedelta(seconds=15)
