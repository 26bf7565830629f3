"""Shared fixtures: a platform on the embedded store, and the app over real HTTP (httpx)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.core.clock import FakeClock
from app.platform import Platform
from app.server.asgi import create_app
from tests.support.api import Api, platform_on_a_fresh_store, running

pytest_plugins = ["tests.support.redis_server"]

@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def platform(clock: FakeClock) -> AsyncIterator[Platform]:
    async with platform_on_a_fresh_store(clock) as p:
        yield p


@pytest.fixture
async def app(platform: Platform):
    application = create_app(platform.settings, platform=platform, run_workers=False)
    async with running(application) as served:
        yield served


@pytest.fixture
async def api(app: Any) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Api(http)


@pytest.fixture
async def shop(api: Api) -> dict[str, Any]:
    """A fresh shop 1 with its key."""
    data = await api.admin(
        'mutation { createShop(name: "Test shop", shopId: 1) { apiKey shop { shopId '
        "defaultSourceId identifySecret } } }"
    )
    created = data["createShop"]
    return {"shopId": 1, "key": created["apiKey"], **created["shop"]}
