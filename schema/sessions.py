"""GraphQL types of sessions: a session with where it came from (its channel), and its page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.attribution import touch
from app.core import utc
from schema.attribution import Channel, Utm
from schema.types import PageInfo


@strawberry.type
class Session:
    session_id: strawberry.ID
    visitor_id: str
    user_id: str | None
    source_id: str
    started_at: datetime
    last_event_at: datetime
    events_count: int
    landing_url: str | None
    referrer: str | None
    channel: Channel = strawberry.field(
        default=Channel.DIRECT, description="From its first event's url and referrer.")
    utm: Utm | None = None
    referrer_host: str | None = None
    trigger_id: strawberry.ID | None = strawberry.field(
        default=None, description="TRIGGER: the trigger whose link opened it.")

    @classmethod
    def of(cls, d: dict[str, Any]) -> Session:
        came = touch(d) or {}
        return cls(session_id=d["sessionId"], visitor_id=d["visitorId"], user_id=d.get("userId"),
                   source_id=d["sourceId"], started_at=utc(d["startedAt"]),
                   last_event_at=utc(d["lastEventAt"]), events_count=d["eventsCount"],
                   landing_url=d.get("landingUrl"), referrer=d.get("referrer"),
                   channel=Channel(came["channel"]), utm=Utm.of(came.get("utm")),
                   referrer_host=came.get("referrerHost"), trigger_id=came.get("triggerId"))


@strawberry.type
class SessionConnection:
    nodes: list[Session]
    page_info: PageInfo
