"""Real servers and real clients for the trigger tests.

`LiveServer` runs the app under uvicorn in this process on a free port (the
embedded store is in-process, so servers that share it must share the process);
`Subscriber` holds one `Subscription.triggers` open through the `gql` package's
WebSocket transport, as an integration would, and keeps what it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from redis.asyncio import Redis
from starlette.applications import Starlette

from app.backends.storage import Storage
from app.platform import Platform, open_store
from app.server.asgi import create_app
from app.server.protocol import server_options
from tests.support.api import ADMIN_KEY, make_settings
from tests.support.redis_server import free_port

DEADLINE = 20.0  # generous: it only bounds how long a broken build makes a test hang
GRAPHQL_TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # "graphql-transport-ws"
GRAPHQL_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # "graphql-ws"
PROTOCOLS = [GRAPHQL_TRANSPORT_WS, GRAPHQL_WS]

SUBSCRIPTION = """
subscription($shopId: Int!, $types: [TriggerType!], $names: [String!], $after: ID) {
  triggers(shopId: $shopId, types: $types, names: $names, after: $after) {
    triggerId type shopId userId visitorId name firedAt properties
    cart { status items { productId categoryId quantity price } }
  }
}
"""


async def eventually(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> None:
    """Wait until `condition()` is true; fail naming `what` after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"gave up waiting until {what}"
        await asyncio.sleep(0.02)


class LiveServer:
    """The app under uvicorn on 127.0.0.1:<free port>, inside the running event loop."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.port = free_port()
        max_head = app.state.settings.max_header_bytes
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
            **server_options(max_head),  # as `python -m app` runs it
        ))
        self._task: asyncio.Task[None] | None = None
        self.platform: Platform | None = None  # set by `serving`
        self.http: httpx.AsyncClient  # one keep-alive client while the server runs

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def __aenter__(self) -> LiveServer:
        # Tests own the signals; uvicorn must not take Ctrl-C away from pytest.
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        self._task = asyncio.create_task(self.server.serve())
        await eventually(lambda: self.server.started or self._task.done(), "uvicorn started")
        if self._task.done():
            self._task.result()
            raise RuntimeError("uvicorn stopped at once")
        self.http = httpx.AsyncClient(base_url=self.http_url, timeout=DEADLINE)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.http.aclose()
        self.server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, DEADLINE)
            except TimeoutError:
                self.server.force_exit = True
                await self._task

    async def graphql(self, query: str, variables: dict[str, Any] | None = None,
                      key: str | None = None) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        response = await self.http.post("/graphql", headers=headers,
                                        json={"query": query, "variables": variables or {}})
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        response = await self.http.get("/healthz")
        return response.status_code, response.json()


@contextlib.asynccontextmanager
async def serving(redis_url: str = "memory://", storage: Storage | None = None,
                  **changes: Any) -> AsyncIterator[LiveServer]:
    """A server with its own Platform (and broker connection), workers ticking fast.

    Servers given the same `storage` share one store, as processes share one MongoDB.
    """
    unlimited = {"rate_tracker_per_ip": 1e6, "burst_tracker_per_ip": 10**6,
                 "rate_tracker_per_visitor": 1e6, "burst_tracker_per_visitor": 10**6}
    settings = make_settings(**{"redis_url": redis_url, "abandoned_cart_tick_seconds": 0.2,
                                "outbox_sweep_seconds": 0.3, **unlimited, **changes})
    own = storage is None
    if storage is None:
        storage = open_store(settings.mongodb_url, settings.mongodb_db)
        await storage.drop()
    platform = await Platform.start(settings, storage=storage)
    try:
        async with LiveServer(create_app(settings, platform=platform)) as server:
            server.platform = platform
            yield server
    finally:
        await platform.stop()
        if own:
            await storage.drop()


async def open_shop(server: LiveServer, shop_id: int = 1, delay: int = 1) -> str:
    """Create a shop with an abandoned-cart delay of `delay` seconds; returns its key."""
    data = await server.graphql(
        "mutation($id: Int!) { createShop(name: \"Shop\", shopId: $id) { apiKey } }",
        {"id": shop_id}, key=ADMIN_KEY)
    await server.graphql(
        "mutation($id: Int!, $s: ShopSettingsInput!) { updateShopSettings(shopId: $id, "
        "settings: $s) { shopId } }", {"id": shop_id, "s": {"abandonedCartDelaySeconds": delay}},
        key=ADMIN_KEY)
    return str(data["createShop"]["apiKey"])


async def track(server: LiveServer, type_: str, visitor: str = "v1", shop_id: int = 1,
                **fields: Any) -> dict[str, Any]:
    """One event through the public batch mutation, as the tracker sends it."""
    context: dict[str, Any] = {"shopId": shop_id, "visitorId": visitor}
    if "eventId" in fields:
        context["eventId"] = fields.pop("eventId")
    data = await server.graphql(
        "mutation($e: [TrackInput!]!) { track(events: $e) { eventId userId } }",
        {"e": [{"type": type_, "context": context, **fields}]})
    return data["track"][0]


async def log_ids(server: LiveServer, key: str, shop_id: int = 1) -> list[str]:
    """Every stored trigger id of the shop, oldest first, paged as a client would."""
    ids: list[str] = []
    after = None
    while True:
        data = await server.graphql(
            "query($id: Int!, $after: String) { triggers(shopId: $id, after: $after, "
            "first: 100) { nodes { triggerId } pageInfo { hasNextPage endCursor } } }",
            {"id": shop_id, "after": after}, key=key)
        page = data["triggers"]
        ids.extend(n["triggerId"] for n in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return ids[::-1]
        after = page["pageInfo"]["endCursor"]


async def wait_subscribed(server: LiveServer, count: int = 1, shop_id: int = 1,
                          processes: int = 1) -> None:
    """Until `count` subscriptions of the shop are open on `server` and, with Redis, until
    Redis routes the channel to `processes` server processes."""
    assert server.platform is not None
    broker = server.platform.broker
    channel = f"triggers:{shop_id}"
    await eventually(lambda: broker.subscriber_count(channel) >= count,
                     f"{count} subscriptions were open")
    url = server.platform.settings.redis_url
    if not url.startswith("redis"):
        return
    client = Redis.from_url(url)
    try:
        end = time.monotonic() + DEADLINE
        while (await client.pubsub_numsub(channel))[0][1] < processes:
            assert time.monotonic() < end, "gave up waiting for Redis to route the channel"
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()


class Subscriber:
    """One open `triggers` subscription over a real WebSocket, collecting what arrives."""

    query = SUBSCRIPTION  # a subclass may ask for other fields

    def __init__(self, ws_url: str, key: str | None, *, protocol: str = GRAPHQL_TRANSPORT_WS,
                 query: str | None = None, **variables: Any) -> None:
        self.query = query or self.query
        self.ws_url = ws_url
        self.key = key
        self.protocol = protocol
        self.variables = {"shopId": 1, **variables}
        self.received: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def ids(self) -> list[str]:
        return [t["triggerId"] for t in self.received]

    def start(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        transport = WebsocketsTransport(
            url=self.ws_url,
            init_payload={"authorization": f"Bearer {self.key}"} if self.key else {},
            subprotocols=[self.protocol],
        )
        request = GraphQLRequest(self.query, variable_values=self.variables)
        try:
            async with Client(transport=transport) as session:
                async for result in session.subscribe(request):
                    self.received.append(result["triggers"])
        except asyncio.CancelledError:
            raise
        except Exception as error:  # kept for the test to look at
            self.error = error

    async def wait_for(self, count: int, what: str = "") -> list[dict[str, Any]]:
        await eventually(lambda: len(self.received) >= count or self.done,
                         what or f"{count} triggers arrived (got {len(self.received)})")
        assert self.error is None, repr(self.error)
        assert len(self.received) >= count, f"subscription ended after {self.received}"
        return self.received

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def __aenter__(self) -> Subscriber:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def shared_store() -> AsyncIterator[Storage]:
    """One store for several servers, as processes share one MongoDB; emptied around use."""
    settings = make_settings()
    shared = open_store(settings.mongodb_url, settings.mongodb_db)
    await shared.drop()
    try:
        yield shared
    finally:
        await shared.drop()


@contextlib.asynccontextmanager
async def two_servers(redis_url: str, storage: Storage
                      ) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one store and one Redis, as two processes of a deployment."""
    async with serving(redis_url, storage) as a, serving(redis_url, storage) as b:
        yield a, b


async def hear_the_same(subscribers: list[Subscriber], count: int,
                        fire: Callable[[], Awaitable[object]]) -> None:
    """`fire`, then each subscriber (one per server) hears the same `count` triggers, each
    once, one per customer u0..u{count-1}, and no more over several more worker ticks."""
    try:
        await fire()
        for subscriber in subscribers:
            await subscriber.wait_for(count)
        await asyncio.sleep(1.0)  # several more ticks of every server's workers
    finally:
        for subscriber in subscribers:
            await subscriber.stop()
    first = subscribers[0]
    assert len(first.ids) == len(set(first.ids)) == count
    for other in subscribers[1:]:
        assert sorted(other.ids) == sorted(first.ids)
    assert sorted(t["userId"] for t in first.received) == sorted(f"u{n}" for n in range(count))
