"""Where a session came from, as stored on its document; a customer's first and last touch.

A session's source is decided once, when its document is written (app/tracking/session_docs.py):
`channel`, `utm`, `referrerHost`, `triggerId` (and the trigger's `ruleId` and `type`,
for the per-rule click counts), and `rolled: false` until the channel rollups count it
(app/attribution/rollups.py). Only a landing URL that carries `smc_tid` costs a look-up
(is it a trigger of this shop?); every other session is classified without a round trip.

A customer's `firstTouch` and `lastTouch` are their first and latest sessions, read
through the sessions-by-customer index: nothing is written for them on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.attribution.channels import Source, classify, link_trigger_id


def own_domains(shop: Any) -> list[str]:
    return [s.domain for s in getattr(shop, "sources", []) if getattr(s, "domain", None)]


async def source_of(storage: Any, shop_id: int, domains: Iterable[str], url: str | None,
                    referrer: str | None) -> dict[str, Any]:
    """The session-document fields of a session that opens on `url` from `referrer`."""
    candidate = link_trigger_id(url)
    trigger = None
    if candidate is not None:
        trigger = await storage.triggers.find_one({"_id": candidate, "shopId": shop_id},
                                                  {"ruleId": 1, "type": 1, "firedAt": 1})
    source: Source = classify(url, referrer, domains, candidate if trigger else None)
    doc: dict[str, Any] = {**source.doc(), "rolled": False}
    if trigger:
        doc["triggerRuleId"] = trigger.get("ruleId")
        doc["triggerType"] = trigger.get("type")
        doc["triggerFiredAt"] = trigger.get("firedAt")
    return doc


def touch(session: dict[str, Any] | None) -> dict[str, Any] | None:
    """A `Touch` from a session document (sessions stored before channels are classified
    from their landing URL and referrer, without the trigger check)."""
    if not session:
        return None
    if session.get("channel") is None:
        session = {**session, **classify(session.get("landingUrl"), session.get("referrer")).doc()}
    return {"channel": session["channel"], "utm": session.get("utm"),
            "referrerHost": session.get("referrerHost"), "triggerId": session.get("triggerId"),
            "sessionId": session["sessionId"], "at": session["startedAt"]}


async def edge_touch(storage: Any, shop_id: int, user_id: str, *, first: bool
                     ) -> dict[str, Any] | None:
    """A customer's first (or latest) session, as a touch: one indexed read."""
    order = 1 if first else -1
    found = await storage.sessions.find({"shopId": shop_id, "userId": user_id}).sort(
        [("startedAt", order), ("_id", order)]).limit(1).to_list(1)
    return touch(found[0] if found else None)
