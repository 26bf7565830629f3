"""Administration: shops, sources, settings, identity tokens, forgetting a customer."""

from __future__ import annotations

from strawberry.types import Info

from app import audiences, identity
from resolvers import null_means_default
from schema import types
from schema.inputs import ShopSettingsInput


async def create_shop(info: Info, name: str, shop_id: int | None = None) -> types.ShopCreated:
    await info.context.admin()
    shop, key = await info.context.platform.shops.create(name, shop_id)
    return types.ShopCreated(shop=types.Shop.of(shop), api_key=key)


async def update_shop_settings(
    info: Info, shop_id: int, settings: ShopSettingsInput
) -> types.Shop:
    await info.context.authorize(shop_id)
    shop = await info.context.platform.shops.update_settings(shop_id, settings.to_changes())
    if settings.interest_half_life_seconds is not None:
        await audiences.reschedule_exits(info.context.platform, shop_id)
    return types.Shop.of(shop)


@null_means_default
async def add_event_source(
    info: Info, shop_id: int, source_id: str, name: str, domain: str | None = None,
    make_default: bool | None = False, active: bool | None = True,
) -> types.Shop:
    await info.context.authorize(shop_id)
    shop = await info.context.platform.shops.add_source(shop_id, source_id, name, domain,
                                                        bool(make_default), bool(active))
    return types.Shop.of(shop)


@null_means_default
async def issue_identity_token(
    info: Info, shop_id: int, user_id: str, ttl_days: int | None = 30
) -> str:
    await info.context.authorize(shop_id)
    platform = info.context.platform
    await platform.shops.require_existing(shop_id)
    user_id = identity.valid_user_id(user_id)
    return identity.issue_token(platform.settings.secret, shop_id, user_id,
                                platform.clock.now(), ttl_days)


async def forget_customer(info: Info, shop_id: int, user_id: str) -> bool:
    await info.context.authorize(shop_id)
    return await identity.forget(info.context.platform, shop_id, user_id)
