"""A trigger's link travels with it: in webhooks' `data` as in the GraphQL Trigger."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from app.server.workers import trigger_fields
from app.triggers import make
from app.webhooks.payload import body


def test_a_webhook_carries_the_trigger_link_and_held_out_as_the_subscription_does() -> None:
    fields = trigger_fields()  # the GraphQL Trigger's fields, as the sender uses them
    assert {"link", "heldOut"} <= set(fields)
    doc = make("1:ev 7:SECTION_VISITED", "SECTION_VISITED", 1,
               fired_at=datetime(2026, 3, 1, tzinfo=UTC), visitor_id="v1", user_id="u1")
    data = json.loads(body(doc, fields))["data"]
    assert data["link"] == "smc_tid=1:ev%207:SECTION_VISITED"  # percent-encoded where needed
    assert data["heldOut"] is False
