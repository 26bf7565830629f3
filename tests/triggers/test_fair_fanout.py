"""One request cannot make thousands of triggers and deliveries inside itself (issue 22,
item 6): past a bound, its fan-out is queued as a job for the workers, and the request
is answered first. The job is worked in steps, a shop at a time in turn, and makes each
trigger and delivery once, whatever fails between its writes."""

from __future__ import annotations

from typing import Any

from app.triggers import fanout
from tests.support.live import LiveServer, eventually, open_shop, serving
from tests.support.webhook_helpers import FAST
from tests.support.webhook_receiver import Receiver

RULE = """mutation($s: Int!, $r: TriggerRuleInput!) { createTriggerRule(shopId: $s, rule: $r) {
  ruleId } }"""
ADD = """mutation($s: Int!, $url: String!) { addWebhookEndpoint(shopId: $s, url: $url) {
  endpoint { endpointId } } }"""


async def noisy_shop(server: LiveServer, receiver: Receiver, rules: int, endpoints: int) -> str:
    key = await open_shop(server)
    for n in range(rules - 1):  # and the default rule
        await server.graphql(RULE, {"s": 1, "r": {"type": "CUSTOM_EVENT", "title": f"r{n}"}},
                             key=key)
    for n in range(endpoints):
        await server.graphql(ADD, {"s": 1, "url": receiver.url(f"e{n}")}, key=key)
    return key


async def batch(server: LiveServer, shop_id: int, count: int, visitor: str = "v") -> Any:
    events = [{"type": "CUSTOM", "eventName": "promo",
               "context": {"shopId": shop_id, "visitorId": visitor, "eventId": f"{visitor}{n}"}}
              for n in range(count)]
    return await server.graphql(
        "mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }", {"e": events})


async def counts(server: LiveServer) -> tuple[int, int]:
    assert server.platform is not None
    storage = server.platform.storage
    return (await storage.triggers.count_documents({"shopId": 1}),
            await storage.webhook_deliveries.count_documents({"shopId": 1}))


async def test_a_request_of_many_triggers_is_answered_first_and_others_meanwhile() -> None:
    # One attempt at a time: the sender's work is not what this test is about.
    async with Receiver() as receiver, serving(**FAST, webhook_concurrency=1,
                                               shutdown_seconds=1.0) as server:
        await noisy_shop(server, receiver, rules=20, endpoints=2)
        await open_shop(server, 2)
        answered = await batch(server, 1, 100)  # 100 events x 20 rules x 2 endpoints
        assert len(answered["track"]) == 100
        made_inside = await counts(server)
        # Another client is answered while the noisy request's fan-out goes on.
        await batch(server, 2, 1, visitor="other")
        meanwhile = await counts(server)
        total = (100 * 20, 100 * 20 * 2)
        await eventually(lambda: server.platform.fanout.idle, "the fan-out was worked")
        assert await counts(server) == total
    assert made_inside[0] <= fanout.INLINE_TRIGGERS
    assert meanwhile != total


async def test_a_small_request_still_makes_its_triggers_itself() -> None:
    async with Receiver() as receiver, serving(**FAST) as server:
        await noisy_shop(server, receiver, rules=2, endpoints=1)
        await batch(server, 1, 3)
        assert await counts(server) == (3 * 2, 3 * 2)  # at once, as before


async def test_a_fan_out_job_survives_a_failure_between_its_writes() -> None:
    async with Receiver() as receiver, serving(**FAST, webhook_concurrency=1,
                                               shutdown_seconds=1.0) as server:
        await noisy_shop(server, receiver, rules=20, endpoints=2)
        assert server.platform is not None
        jobs = server.platform.storage.triggerFanouts
        write_progress = jobs.update_one
        failed: list[Any] = []

        async def fail_once(filter: Any, update: Any, **kwargs: Any) -> Any:
            # The first step's progress write fails: its triggers and deliveries are
            # stored, the job does not know it. The step is made again, nothing twice.
            if "done" in update.get("$set", {}) and not failed:
                failed.append(update)
                raise ConnectionError("injected: the write of the job's progress")
            return await write_progress(filter, update, **kwargs)

        jobs.update_one = fail_once
        try:
            await batch(server, 1, 50)
            await eventually(lambda: failed, "the fault was injected")
            await eventually(lambda: server.platform.fanout.idle, "the fan-out was worked")
        finally:
            del jobs.update_one
        assert await counts(server) == (50 * 20, 50 * 20 * 2)
