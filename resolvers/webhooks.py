"""Webhooks: endpoints, the delivery log and replay (CONTRACT.md section 8)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.analytics import reading
from app.webhooks import deliveries
from resolvers import null_means_default
from schema import webhooks as w
from schema.triggers import TriggerType
from schema.types import PageInfo


def _values(types: list[TriggerType] | None) -> list[str] | None:
    return None if types is None else [t.value for t in types]


async def webhook_endpoints(info: Info, shop_id: int) -> list[w.WebhookEndpoint]:
    await info.context.authorize(shop_id)
    return [w.WebhookEndpoint.of(e) for e in await info.context.platform.webhooks.list(shop_id)]


@null_means_default
async def webhook_deliveries(
    info: Info, shop_id: int, endpoint_id: strawberry.ID | None = None,
    status: list[w.DeliveryStatus] | None = None, first: int | None = 50,
    after: str | None = None,
) -> w.WebhookDeliveryConnection:
    await info.context.authorize(shop_id)
    reading.check_first(first)
    nodes, more, cursor = await deliveries.page(
        info.context.platform.webhooks, shop_id, endpoint_id,
        [s.value for s in status] if status else None, first, after)
    return w.WebhookDeliveryConnection(nodes=[w.WebhookDelivery.of(d) for d in nodes],
                                       page_info=PageInfo(has_next_page=more, end_cursor=cursor))


async def add_webhook_endpoint(
    info: Info, shop_id: int, url: str, types: list[TriggerType] | None = None,
    names: list[str] | None = None,
) -> w.WebhookEndpointCreated:
    await info.context.authorize(shop_id)
    platform = info.context.platform
    await platform.shops.require_existing(shop_id)
    endpoint, secret = await platform.webhooks.add(shop_id, url, _values(types), names)
    return w.WebhookEndpointCreated(endpoint=w.WebhookEndpoint.of(endpoint), secret=secret)


async def update_webhook_endpoint(
    info: Info, shop_id: int, endpoint_id: strawberry.ID, url: str | None = None,
    types: list[TriggerType] | None = None, names: list[str] | None = None,
    enabled: bool | None = None,
) -> w.WebhookEndpoint:
    await info.context.authorize(shop_id)
    endpoint = await info.context.platform.webhooks.update(
        shop_id, endpoint_id, url=url, types=_values(types), names=names, enabled=enabled)
    return w.WebhookEndpoint.of(endpoint)


async def delete_webhook_endpoint(info: Info, shop_id: int, endpoint_id: strawberry.ID) -> bool:
    await info.context.authorize(shop_id)
    return await info.context.platform.webhooks.delete(shop_id, endpoint_id)


async def rotate_webhook_secret(
    info: Info, shop_id: int, endpoint_id: strawberry.ID
) -> w.WebhookEndpointCreated:
    await info.context.authorize(shop_id)
    endpoint, secret = await info.context.platform.webhooks.rotate(shop_id, endpoint_id)
    return w.WebhookEndpointCreated(endpoint=w.WebhookEndpoint.of(endpoint), secret=secret)


async def redeliver_webhooks(
    info: Info, shop_id: int, endpoint_id: strawberry.ID, after: strawberry.ID | None = None
) -> int:
    await info.context.authorize(shop_id)
    return await deliveries.redeliver(info.context.platform.webhooks, shop_id, endpoint_id,
                                        after)
