"""Webhooks delivered over real HTTP to a real receiver that verifies each with the
`standardwebhooks` package: what arrives, to whom, signed with which secret."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType

from app.server.graphql import build_schema
from app.settings import Settings
from app.triggers import model as triggers
from tests.support.live import open_shop, serving, track
from tests.support.redis_server import free_port
from tests.support.webhook_helpers import ADD, FAST, add_endpoint, deliveries, settled, until
from tests.support.webhook_receiver import Receiver


def selection(type_: Any) -> str:
    """Every field of an object type, nested objects included: all a client can ask for."""
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    if not isinstance(type_, GraphQLObjectType):
        return ""
    parts = []
    for name, field in type_.fields.items():
        if any(arg.type.__class__ is GraphQLNonNull for arg in field.args.values()):
            continue
        parts.append(name + selection(field.type))
    return " { " + " ".join(parts) + " }"


TRIGGER = build_schema(Settings())._schema.get_type("Trigger")
TRIGGERS = "query { triggers(shopId: 1, first: 100) { nodes" + selection(TRIGGER) + " } }"


async def fire_every_type(server: Any) -> None:
    """One trigger of each type the tracker fires by itself, through the public API.

    The visitor logs in first: a trigger carries who it was when it fired, and the log
    files an anonymous one under the customer later (the webhook was sent by then)."""
    await track(server, "LOGIN", visitor="v1", userId="José Müller")  # a non-ASCII id
    await track(server, "SECTION_VIEW", visitor="v1", pageName="home")
    await track(server, "CUSTOM", visitor="v1", eventName="promo", properties={"x": [1, "é"]})
    await track(server, "CART_ADD", visitor="v1", categoryId="c1", productId="p1", price=9.5)
    await track(server, "LOGIN", visitor="v2", userId="u2")
    await track(server, "CART_ADD", visitor="v2", categoryId="c1", productId="p2", quantity=2)
    await track(server, "CHECKOUT", visitor="v2", orderId="o1")


async def test_every_trigger_arrives_signed_with_the_subscriptions_fields() -> None:
    async with Receiver() as receiver, serving(**FAST) as server:
        key = await open_shop(server, delay=1)
        await add_endpoint(server, key, receiver, "all")
        await fire_every_type(server)
        await until(lambda: settled(server, key, 4), "4 deliveries were made")

        stored = (await server.graphql(TRIGGERS, key=key))["triggers"]["nodes"]
        got = receiver.of("all")
        assert {t["type"] for t in stored} == {"SECTION_VISITED", "CUSTOM_EVENT",
                                               "ABANDONED_CART", "ORDER_COMPLETED"}
        assert all(r.verified for r in got), [r.error for r in got]
        by_id = {r.payload["data"]["triggerId"]: r for r in got}
        assert sorted(by_id) == sorted(t["triggerId"] for t in stored)
        for trigger in stored:
            received = by_id[trigger["triggerId"]]
            assert received.payload["type"] == "trigger." + trigger["type"].lower()
            assert received.payload["timestamp"] == trigger["firedAt"]
            # Exactly what a subscription (or Query.triggers) shows, field for field.
            assert received.payload["data"] == trigger
            assert received.headers["content-type"] == "application/json"
        cart = next(t for t in stored if t["type"] == "ABANDONED_CART")
        assert " " in cart["triggerId"] and "é" in cart["triggerId"]
        # Header values are ASCII: what is not printable ASCII is percent-encoded (UTF-8).
        assert by_id[cart["triggerId"]].webhook_id == "1:u:Jos%C3%A9%20M%C3%BCller:1"
        for t in stored:
            if t["type"] != "ABANDONED_CART":
                assert by_id[t["triggerId"]].webhook_id == t["triggerId"]
        logged = await deliveries(server, key)
        assert [d["status"] for d in logged] == ["DELIVERED"] * 4
        assert all(d["attempts"] == 1 and d["lastStatusCode"] == 200 for d in logged)


async def test_every_trigger_type_of_the_schema_arrives_as_its_event_type() -> None:
    async with Receiver() as receiver, serving(**FAST) as server:
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "all")
        assert server.platform is not None
        now = server.platform.clock.now()
        await server.platform.outbox.record([
            triggers.make(f"t-{type_}", type_, 1, fired_at=now, visitor_id="v", user_id="u")
            for type_ in triggers.TYPES])
        await until(lambda: settled(server, key, len(triggers.TYPES)), "all were delivered")
        assert sorted(r.payload["type"] for r in receiver.of("all")) == sorted(
            f"trigger.{t.lower()}" for t in triggers.TYPES)


async def test_filters_hold() -> None:
    async with Receiver() as receiver, serving(**FAST) as server:
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "sections", types=["SECTION_VISITED"])
        await add_endpoint(server, key, receiver, "promo", names=["promo", "home"],
                           types=["CUSTOM_EVENT"])
        await add_endpoint(server, key, receiver, "named", names=["home"])
        await add_endpoint(server, key, receiver, "all", types=[], names=[])
        await track(server, "SECTION_VIEW", pageName="home")
        await track(server, "SECTION_VIEW", pageName="cart")
        await track(server, "CUSTOM", eventName="promo")
        await track(server, "CUSTOM", eventName="other")
        await until(lambda: settled(server, key, 2 + 1 + 1 + 4), "8 deliveries were made")

        def names(endpoint: str) -> list[tuple[str, str]]:
            return sorted((r.payload["data"]["type"], r.payload["data"]["name"])
                          for r in receiver.of(endpoint))

        assert names("sections") == [("SECTION_VISITED", "cart"), ("SECTION_VISITED", "home")]
        assert names("promo") == [("CUSTOM_EVENT", "promo")]
        assert names("named") == [("SECTION_VISITED", "home")]
        assert len(names("all")) == 4
        assert len(receiver.received) == 8


async def test_a_rotated_secret_is_used_from_then_on() -> None:
    rotate = """mutation($e: ID!) { rotateWebhookSecret(shopId: 1, endpointId: $e) {
                  secret endpoint { endpointId } } }"""
    async with Receiver() as receiver, serving(**FAST) as server:
        key = await open_shop(server)
        endpoint = await add_endpoint(server, key, receiver, "hook")
        old = receiver.secrets["hook"]
        await track(server, "CUSTOM", eventName="before")
        await until(lambda: settled(server, key, 1), "the first was delivered")

        new = (await server.graphql(rotate, {"e": endpoint}, key=key))[
            "rotateWebhookSecret"]["secret"]
        assert new.startswith("whsec_") and new != old
        receiver.expect("hook", new)
        await track(server, "CUSTOM", eventName="after")
        await track(server, "CUSTOM", eventName="after")
        await until(lambda: settled(server, key, 3), "the others were delivered")
        before, *after = receiver.of("hook")
        assert before.verifies_with(old) and not before.verifies_with(new)
        assert after and all(r.verified and not r.verifies_with(old) for r in after)


async def test_a_delivery_whose_body_cannot_be_built_ends_failed_with_its_reason() -> None:
    """A trigger stored before lone surrogates were refused (`"\\ud800"` in its properties):
    its body has no UTF-8 form. The delivery ends FAILED saying so, at once, unattempted,
    instead of staying PENDING for ever; the others are delivered."""
    async with Receiver() as receiver, serving(**FAST) as server:
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "all")
        assert server.platform is not None
        bad = triggers.make("t-unbuildable", "CUSTOM_EVENT", 1, fired_at=server.platform.clock
                            .now(), visitor_id="v1", user_id=None, name="promo",
                            properties={"x": "\ud800"})
        await server.platform.storage.triggers.insert_one(bad)
        await server.platform.webhooks.queue([bad])
        await track(server, "CUSTOM", visitor="v1", eventName="promo")
        await until(lambda: settled(server, key, 2), "both deliveries were settled")
        logged = {d["triggerId"]: d for d in await deliveries(server, key)}
        failed = logged.pop("t-unbuildable")
        assert failed["status"] == "FAILED" and failed["attempts"] == 0, failed
        assert failed["lastError"].startswith("the body cannot be built"), failed
        assert failed["nextAttemptAt"] is None
        assert [d["status"] for d in logged.values()] == ["DELIVERED"]
        assert [r.payload["data"]["triggerId"] for r in receiver.of("all")] == list(logged)


async def test_last_error_does_not_name_the_address_a_host_resolves_to() -> None:
    """A tenant must not learn where an internal name points from the delivery log."""
    port = free_port()  # nobody listens there
    async with serving(**FAST) as server:
        key = await open_shop(server)
        await server.graphql(ADD, {"s": 1, "url": f"http://localhost:{port}/hook"}, key=key)
        await track(server, "CUSTOM", visitor="v1", eventName="promo")
        await until(lambda: settled(server, key, 1), "the delivery failed for good")
        [failed] = await deliveries(server, key)
        assert failed["status"] == "FAILED" and failed["lastError"], failed
        assert "localhost" in failed["lastError"], failed
        assert "127.0.0.1" not in failed["lastError"] and "::1" not in failed["lastError"], failed


async def test_an_empty_schedule_in_the_environment_means_no_retries() -> None:
    """TRACKER_WEBHOOK_SCHEDULE="" is documented as "no retries": one attempt, then FAILED."""
    schedule = Settings.from_env({"TRACKER_WEBHOOK_SCHEDULE": ""}).webhook_schedule
    async with serving(**{**FAST, "webhook_schedule": schedule}) as server:
        key = await open_shop(server)
        await server.graphql(ADD, {"s": 1, "url": f"http://localhost:{free_port()}/"}, key=key)
        await track(server, "CUSTOM", visitor="v1", eventName="promo")
        await until(lambda: settled(server, key, 1), "the delivery failed for good")
        [failed] = await deliveries(server, key)
        assert (failed["status"], failed["attempts"]) == ("FAILED", 1), failed
