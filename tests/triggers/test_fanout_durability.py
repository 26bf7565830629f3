"""The trigger fan-out job (app/triggers/fanout.py) under failure: the fault-injection
matrix of tests/support/faults.py over a request whose custom events fan out past the
inline bound, and the job's steps that store their triggers and webhook deliveries.
Every storage call fails once in turn; the request is retried as the tracker retries
it, the workers tick on; the end state must equal the run without a fault."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from app.core import Context, EventInput, EventType
from app.platform import Platform
from app.tracking import track
from app.triggers import fanout, rule_store
from app.webhooks import endpoints
from tests.support.faults import retried, run_matrix

RULES, EVENTS = 3, 4  # with the default rule: 16 triggers, 16 deliveries


class Fixed:
    """Ids and secrets that every fresh platform of a matrix makes the same."""

    def __init__(self) -> None:
        self.n = 0

    def token_hex(self, size: int) -> str:
        self.n += 1
        return f"{self.n:0{2 * size}x}"

    def token_bytes(self, size: int) -> bytes:
        self.n += 1
        return self.n.to_bytes(size, "big")


async def anywhere(url: str, allow_private: bool) -> None:
    """The address rule, passed: no request leaves the test."""


async def noisy_shop(platform: Platform) -> None:
    fixed = Fixed()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rule_store, "secrets", fixed)
        patch.setattr(endpoints, "secrets", fixed)
        patch.setattr(endpoints, "check_destination", anywhere)
        await platform.shops.create("Shop", shop_id=1)
        for n in range(RULES):
            await platform.rules.create(1, {"type": "CUSTOM_EVENT", "title": f"r{n}"})
        await platform.webhooks.add(1, "https://hooks.example/t", None, None)


def promos() -> list[EventInput]:
    return [EventInput(type=EventType.CUSTOM, event_name="promo", context=Context(
        shop_id=1, visitor_id="v", event_id=f"e{n}")) for n in range(EVENTS)]


async def fanned_out(platform: Platform) -> tuple[Any, int]:
    """The request, retried until answered; then the workers tick, a failed tick being
    followed by another (the process takes its failed job back at once)."""
    outcomes, retries = await retried(lambda: track(platform, promos()))
    answers = [(o.error, o.result.event_id if o.result else None) for o in outcomes]
    for _ in range(12):
        try:
            await platform.fanout.tick()
        except AutoReconnect:
            retries += 1
    return (answers, platform.fanout.idle), retries


async def test_a_fault_at_any_storage_call_of_a_fan_out_job_loses_and_doubles_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "INLINE_TRIGGERS", 2)  # the request queues a job...
    monkeypatch.setattr(fanout, "STEP_WRITES", 6)  # ...worked in several steps
    monkeypatch.setattr(fanout, "PAUSE", 0)
    failures, faults, retries = await run_matrix(noisy_shop, fanned_out)
    assert faults > 15 and retries >= 1
    assert failures == [], f"{len(failures)} of {faults} faults lost effects:\n" + \
        "\n".join(failures)


async def test_the_matrix_scenario_makes_every_trigger_and_delivery_through_the_job(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "INLINE_TRIGGERS", 2)
    monkeypatch.setattr(fanout, "STEP_WRITES", 6)
    monkeypatch.setattr(fanout, "PAUSE", 0)
    await noisy_shop(platform)
    jobs: list[Any] = []
    queue = platform.storage.triggerFanouts.update_one

    async def queued(*args: Any, **kwargs: Any) -> Any:
        jobs.append(args[0]["_id"])
        return await queue(*args, **kwargs)

    monkeypatch.setattr(platform.storage.triggerFanouts, "update_one", queued)
    (answers, idle), _ = await fanned_out(platform)
    assert jobs and idle and all(error is None for error, _ in answers)
    triggers = await platform.storage.db.triggers.count_documents({"type": "CUSTOM_EVENT"})
    deliveries = await platform.storage.db.webhook_deliveries.count_documents({})
    assert (triggers, deliveries) == ((RULES + 1) * EVENTS, (RULES + 1) * EVENTS)
