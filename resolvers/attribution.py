"""Section 12: orders from the shop's systems, rule performance, channels (shop key)."""

from __future__ import annotations

import dataclasses
from typing import Any

from strawberry.types import Info

from app.attribution import channel_stats
from app.attribution import trigger_performance as performance_of
from app.attribution import upsert_orders as store_orders
from app.core import utc
from resolvers.analytics import From, To
from schema.attribution import Channel, ChannelStat, OrderInput, RulePerformance
from schema.triggers import TriggerType


def _order(given: OrderInput) -> dict[str, Any]:
    return {"orderId": given.order_id, "userId": given.user_id,
            "items": [{"productId": i.product_id, "quantity": i.quantity, "price": i.price}
                      for i in given.items],
            "status": given.status.value if given.status else None,
            "placedAt": given.placed_at}


async def upsert_orders(info: Info, shop_id: int, orders: list[OrderInput]) -> int:
    """Orders as the shop's systems know them (1..1,000 a call); how many changed."""
    await info.context.authorize(shop_id)
    platform = info.context.platform
    shop = await platform.shops.require(shop_id)
    return await store_orders(platform.storage, shop, [_order(o) for o in orders],
                              platform.clock.now())


async def trigger_performance(info: Info, shop_id: int, start: From, end: To
                              ) -> list[RulePerformance]:
    """Per rule, for triggers fired in [from, to), from the hourly rollups."""
    await info.context.authorize(shop_id)
    platform = info.context.platform
    ruleset = await platform.rules.listed(shop_id)
    rows = await performance_of(platform.storage, platform.clock.now(), shop_id,
                                             list(ruleset.rules), utc(start), utc(end))
    names = {f.name for f in dataclasses.fields(RulePerformance)}
    return [RulePerformance(**{**{k: v for k, v in r.items() if k in names},
                               "type": TriggerType(r["type"])}) for r in rows]


async def channels(info: Info, shop_id: int, start: From, end: To) -> list[ChannelStat]:
    """Per channel, for sessions started in [from, to), from the hourly rollups."""
    await info.context.authorize(shop_id)
    platform = info.context.platform
    rows = await channel_stats(platform.storage, platform.clock.now(), shop_id,
                                  utc(start), utc(end))
    return [ChannelStat(**{**r, "channel": Channel(r["channel"])}) for r in rows]
