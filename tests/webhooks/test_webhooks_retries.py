"""Failed attempts over real HTTP: retried on the schedule, then FAILED; timeouts and
redirects are failures; the address is checked again when the request is made."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.webhooks import net as webhooks_net
from tests.support.live import open_shop, serving, track
from tests.support.webhook_helpers import FAST, add_endpoint, deliveries, settled, until
from tests.support.webhook_receiver import HANG, Receiver


async def one_delivery(server: Any, key: str) -> dict[str, Any]:
    await until(lambda: settled(server, key, 1), "the delivery was settled")
    [delivery] = await deliveries(server, key)
    return delivery


async def test_500_then_200_is_retried_and_delivered_once() -> None:
    async with Receiver() as receiver, serving(**FAST) as server:
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "hook", answers=[500, 200])
        await track(server, "CUSTOM", eventName="e")
        delivery = await one_delivery(server, key)
        assert delivery["status"] == "DELIVERED"
        assert delivery["attempts"] == 2 and delivery["lastStatusCode"] == 200
        assert delivery["lastError"] is None and delivery["deliveredAt"]
        assert delivery["nextAttemptAt"] is None
        first, second = receiver.of("hook")
        assert first.verified and second.verified
        assert first.webhook_id == second.webhook_id == delivery["triggerId"]
        assert first.body == second.body
        # The retry waited the schedule's first step (0.2 s): measured by the receiver.
        assert second.at - first.at >= 0.2


async def test_500_forever_fails_after_the_last_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Receiver() as receiver, serving(**FAST) as server:
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "hook", answers=[500])
        secret = receiver.secrets["hook"]
        await track(server, "CUSTOM", eventName="e")
        delivery = await one_delivery(server, key)
        assert delivery["status"] == "FAILED"
        assert delivery["attempts"] == 3  # the first and one per step of "0.2,0.2"
        assert delivery["lastStatusCode"] == 500
        assert delivery["lastError"].startswith("HTTP 500")
        assert delivery["nextAttemptAt"] is None and delivery["deliveredAt"] is None
        assert len(receiver.of("hook")) == 3
        assert len(set(receiver.ids("hook"))) == 1
    assert caplog.records and secret not in caplog.text
    assert secret.removeprefix("whsec_") not in caplog.text


async def test_no_answer_within_the_timeout_is_a_failed_attempt() -> None:
    async with Receiver() as receiver, serving(**{**FAST, "webhook_schedule": "0.1"}) as server:
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "hook", answers=[HANG])
        await track(server, "CUSTOM", eventName="e")
        delivery = await one_delivery(server, key)
        assert delivery["status"] == "FAILED" and delivery["attempts"] == 2
        assert delivery["lastStatusCode"] is None
        assert delivery["lastError"] == "no answer within 1 s"
        assert len(receiver.of("hook")) == 2


async def test_a_redirect_is_a_failure_and_is_not_followed() -> None:
    async with Receiver() as receiver, serving(**{**FAST, "webhook_schedule": "0.1"}) as server:
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "hook", answers=[302])
        await track(server, "CUSTOM", eventName="e")
        delivery = await one_delivery(server, key)
        assert delivery["status"] == "FAILED" and delivery["lastStatusCode"] == 302
        assert "redirect" in delivery["lastError"]
        assert receiver.of("followed") == []
        assert len(receiver.of("hook")) == 2


@pytest.mark.parametrize("answer", [200, 500])
async def test_an_endless_answer_is_read_only_in_part(answer: int) -> None:
    """The sender reads 64 KB of an answer and hangs up: were it to read on, the attempt
    would run into the timeout instead."""
    async with Receiver() as receiver, serving(**{**FAST, "webhook_schedule": ""}) as server:
        receiver.endless_answers = True
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "hook", answers=[answer])
        await track(server, "CUSTOM", eventName="e")
        delivery = await one_delivery(server, key)
        assert delivery["lastStatusCode"] == answer
        if answer == 200:
            assert delivery["status"] == "DELIVERED" and delivery["lastError"] is None
        else:
            assert delivery["status"] == "FAILED"
            assert delivery["lastError"].startswith("HTTP 500: xxxx")
            assert len(delivery["lastError"]) == 300


async def test_the_address_is_checked_again_when_the_request_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name that resolved to a public address when added, and to loopback later
    (DNS rebinding), gets no request."""
    answers = {"hooks.example": ["93.184.215.14"]}
    real_resolve = webhooks_net.resolve

    async def resolve(host: str, port: int) -> list[str]:
        return answers[host] if host in answers else await real_resolve(host, port)

    monkeypatch.setattr(webhooks_net, "resolve", resolve)
    settings = {**FAST, "webhook_allow_private": False, "webhook_schedule": ""}
    async with Receiver() as receiver, serving(**settings) as server:
        key = await open_shop(server)
        url = receiver.url("hook").replace("127.0.0.1", "hooks.example")
        data = await server.graphql(
            'mutation($u: String!) { addWebhookEndpoint(shopId: 1, url: $u) { secret } }',
            {"u": url}, key=key)
        assert data["addWebhookEndpoint"]["secret"]
        answers["hooks.example"] = ["127.0.0.1"]
        await track(server, "CUSTOM", eventName="e")
        delivery = await one_delivery(server, key)
        assert delivery["status"] == "FAILED" and delivery["lastStatusCode"] is None
        assert "loopback, private or link-local" in delivery["lastError"]
        assert receiver.received == []
