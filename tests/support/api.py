"""Talking to the app as a client would: settings for tests, the GraphQL client over HTTP, and
the app run with its lifespan. The fixtures built on these live in tests/conftest.py."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx

from app.core.clock import FakeClock
from app.platform import Platform, open_store
from app.settings import Settings

ADMIN_KEY = "test-admin-key"
SECRET = "test-secret"


def make_settings(**changes: Any) -> Settings:
    base = Settings(
        admin_key=ADMIN_KEY,
        secret=SECRET,
        demo_shop=False,
        mongodb_url=os.environ.get("TRACKER_TEST_MONGODB_URL") or "mongomock://",
        mongodb_db="tracker_test",
    )
    return base.with_(**changes)



@contextlib.asynccontextmanager
async def platform_on_a_fresh_store(clock: FakeClock, **settings: Any) -> AsyncIterator[Platform]:
    """A platform on a fresh embedded store (test settings changed by `settings`)."""
    config = make_settings(**settings)
    storage = open_store(config.mongodb_url, config.mongodb_db)
    await storage.drop()
    p = await Platform.start(config, clock=clock, storage=storage)
    try:
        yield p
    finally:
        await p.stop()
        await storage.drop()


class Api:
    """Talks GraphQL to the app over HTTP, as a client would."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        sent = dict(headers or {})
        if key:
            sent["authorization"] = f"Bearer {key}"
        response = await self.http.post("/graphql", json={"query": query,
                                                          "variables": variables or {}},
                                        headers=sent)
        assert response.status_code < 500, response.text
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None,
                   key: str | None = None, **kw: Any) -> dict[str, Any]:
        """The data of a call that must succeed."""
        body = await self.post(query, variables, key, **kw)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def error(self, query: str, variables: dict[str, Any] | None = None,
                    key: str | None = None, **kw: Any) -> dict[str, Any]:
        """The first error of a call that must fail."""
        body = await self.post(query, variables, key, **kw)
        assert body.get("errors"), body
        return body["errors"][0]

    async def admin(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.data(query, variables, ADMIN_KEY)


def with_state(app: Any, state: dict[str, Any]) -> Any:
    """The app as a server runs it: the lifespan's state is in every request's scope."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    return asgi


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[Any]:
    """Run the app's lifespan, as a server would; yields the app to send requests to."""
    async with app.router.lifespan_context(app) as state:
        yield with_state(app, state or {})
