"""GraphQL types of webhooks (CONTRACT.md section 8)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from app.core import utc
from schema.triggers import TriggerType
from schema.types import PageInfo


@strawberry.enum
class DeliveryStatus(Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


def _time(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def _trigger_types(values: list[str]) -> list[TriggerType]:
    known = {t.value for t in TriggerType}  # type: ignore[attr-defined]
    return [TriggerType(v) for v in values if v in known]


@strawberry.type
class WebhookEndpoint:
    endpoint_id: strawberry.ID
    url: str
    types: list[TriggerType]
    names: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, d: dict[str, Any]) -> WebhookEndpoint:
        return cls(endpoint_id=strawberry.ID(d["endpointId"]), url=d["url"],
                   types=_trigger_types(d.get("types") or []), names=list(d.get("names") or []),
                   enabled=bool(d.get("enabled")), disabled_reason=d.get("disabledReason"),
                   created_at=utc(d["createdAt"]))


@strawberry.type
class WebhookEndpointCreated:
    endpoint: WebhookEndpoint
    secret: str = strawberry.field(
        description='"whsec_" + base64 of the signing key; shown only in this answer')


@strawberry.type
class WebhookDelivery:
    delivery_id: strawberry.ID
    endpoint_id: strawberry.ID
    trigger_id: strawberry.ID
    status: DeliveryStatus
    attempts: int
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime = strawberry.field(description="when it was queued (or queued again)")

    @classmethod
    def of(cls, d: dict[str, Any]) -> WebhookDelivery:
        pending = d["status"] == DeliveryStatus.PENDING.value
        return cls(
            delivery_id=strawberry.ID(d["_id"]), endpoint_id=strawberry.ID(d["endpointId"]),
            trigger_id=strawberry.ID(d["triggerId"]), status=DeliveryStatus(d["status"]),
            attempts=d.get("attempts", 0), last_attempt_at=_time(d.get("lastAttemptAt")),
            next_attempt_at=_time(d.get("nextAttemptAt")) if pending else None,
            last_status_code=d.get("lastStatusCode"), last_error=d.get("lastError"),
            delivered_at=_time(d.get("deliveredAt")), created_at=utc(d["createdAt"]),
        )


@strawberry.type
class WebhookDeliveryConnection:
    nodes: list[WebhookDelivery]
    page_info: PageInfo
