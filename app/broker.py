"""Pub/sub broker: one small backend interface, the backend picked by URL scheme.

`memory://` fans out inside this process; `redis://` and `rediss://` go through Redis pub/sub,
so every process sees every message. Delivery is at most once: whatever is published while
the backend is unreachable is lost here, and the application's outbox publishes it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import deque
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000


class BrokerUnavailable(Exception):
    """The backend cannot be reached: the message was not published."""


class Subscription:
    """One local subscriber of one channel: an async context manager and async iterator.

    Entering registers the subscriber before it returns, so everything published afterwards
    reaches it (with Redis: while the broker is healthy). Iteration ends, and `get` raises
    `BrokerUnavailable`, once the broker is disconnected.
    """

    def __init__(self, broker: Broker, channel: str, queue_size: int) -> None:
        self.channel = channel
        self.dropped = 0  # messages discarded because this subscriber fell behind
        self._broker = broker
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_size)
        self._entered = False
        self._closed = False

    async def __aenter__(self) -> Subscription:
        if self._entered:
            raise RuntimeError("a Subscription can be entered only once")
        self._entered = True
        try:
            await self._broker._attach(self)
        except BaseException:
            self._close()
            await self._broker._detach(self)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
        await self._broker._detach(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> str:
        message = await self._next(None)
        if message is None:
            raise StopAsyncIteration
        return message

    async def get(self, timeout: float | None = None) -> str:
        """The next message; `TimeoutError` after `timeout` seconds without one."""
        message = await self._next(timeout)
        if message is None:
            raise BrokerUnavailable(f"subscription to {self.channel!r} is closed")
        return message

    async def _next(self, timeout: float | None) -> str | None:
        if not self._entered:
            raise RuntimeError("enter the subscription with 'async with' before reading it")
        if self._closed and self._queue.empty():
            return None
        return await asyncio.wait_for(self._queue.get(), timeout)

    def _put(self, message: str | None) -> None:
        if self._queue.full():
            # A slow reader must never stall the fan-out (nor the Redis reader): it loses its
            # oldest message instead, which the newest state usually supersedes anyway.
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._put(None)  # wakes a reader blocked in get()


class Broker(ABC):
    """Publishes string messages to named channels and fans them out to local subscribers."""

    def __init__(self, *, queue_size: int = QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = {}
        # Bumped whenever messages may have been missed (a connection lost, and again once it
        # is back, for what was published before the re-subscription took effect): readers
        # that must not miss anything compare it and catch up from their own store.
        self.epoch = 0

    @abstractmethod
    async def connect(self) -> None:
        """Start using the backend. An unreachable backend is not an error here."""

    async def disconnect(self) -> None:
        """Stop using the backend and end every open subscription."""
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription._close()
        self._subscribers.clear()

    @abstractmethod
    async def publish(self, channel: str, message: str) -> None:
        """Send `message` to every subscriber of `channel`; `BrokerUnavailable` if it cannot."""

    def subscribe(self, channel: str) -> Subscription:
        """A subscription to enter with `async with`; nothing is registered before that."""
        return Subscription(self, channel, self._queue_size)

    def subscriber_count(self, channel: str) -> int:
        """Local subscribers of `channel` (for metrics and tests)."""
        return len(self._subscribers.get(channel, ()))

    @abstractmethod
    async def ping(self) -> bool:
        """Whether the backend answers right now."""

    @property
    @abstractmethod
    def healthy(self) -> bool:
        """Last known state of the backend, without I/O."""

    async def _attach(self, subscription: Subscription) -> None:
        subscriptions = self._subscribers.setdefault(subscription.channel, set())
        first = not subscriptions
        subscriptions.add(subscription)
        await self._listen(subscription.channel, first)

    async def _detach(self, subscription: Subscription) -> None:
        subscriptions = self._subscribers.get(subscription.channel)
        if subscriptions is None or subscription not in subscriptions:
            return
        subscriptions.remove(subscription)
        if not subscriptions:
            del self._subscribers[subscription.channel]
            await self._unlisten(subscription.channel)

    @abstractmethod
    async def _listen(self, channel: str, first: bool) -> None:
        """Return once the backend routes `channel` to this process."""

    @abstractmethod
    async def _unlisten(self, channel: str) -> None:
        """The last local subscriber of `channel` has left."""

    def _deliver(self, channel: str, message: str) -> None:
        for subscription in self._subscribers.get(channel, ()):
            subscription._put(message)


class MemoryBroker(Broker):
    """Fan-out inside this process: tests and single-process deployments."""

    async def connect(self) -> None:
        pass  # nothing to reach

    async def publish(self, channel: str, message: str) -> None:
        self._deliver(channel, message)

    async def ping(self) -> bool:
        return True

    @property
    def healthy(self) -> bool:
        return True

    async def _listen(self, channel: str, first: bool) -> None:
        pass  # every publish goes straight to the registered subscribers

    async def _unlisten(self, channel: str) -> None:
        pass


class RedisBroker(Broker):
    """Redis pub/sub over one subscriber connection per broker, fanned out to local queues.

    A background reader owns that connection. It subscribes every channel that has local
    subscribers, and when Redis goes away it reconnects with backoff and subscribes them all
    again, so subscribers live through outages untouched (minus what was published meanwhile).
    """

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = QUEUE_SIZE,
        socket_timeout: float = 1.0,
        ping_interval: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 2.0,
    ) -> None:
        super().__init__(queue_size=queue_size)
        self._socket_timeout = socket_timeout
        self._ping_interval = ping_interval
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        # Short timeouts and no hidden retries: with Redis down, publish must fail fast and
        # leave the retrying to the outbox; the reader has its own backoff.
        self._redis = Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            # Plain RESP2 arrays for pub/sub; RESP3 (asked for in the URL) works as well.
            protocol=2,
            decode_responses=True,
            # Bytes someone else published must not look like a broken connection.
            encoding_errors="replace",
        )
        self._conn: AbstractConnection | None = None  # the reader's, while it is connected
        self._healthy = False
        self._reader: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()
        # channel -> confirmation of the SUBSCRIBE that currently covers it
        self._ready: dict[str, asyncio.Future[None]] = {}
        # channel -> SUBSCRIBEs sent and not yet confirmed, oldest first, as Redis answers them
        self._in_flight: dict[str, deque[asyncio.Future[None]]] = {}

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def connect(self) -> None:
        if self._reader is not None:
            return
        self._attempted = asyncio.Event()
        self._reader = asyncio.create_task(self._read_forever(), name="redis-broker-reader")
        # Wait for the first attempt so that `healthy` is meaningful right after startup.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), 3 * self._socket_timeout)

    async def disconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader])
        await super().disconnect()
        await self._redis.aclose()

    async def publish(self, channel: str, message: str) -> None:
        try:
            await self._redis.publish(channel, message)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"cannot publish to Redis: {exc}") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def _listen(self, channel: str, first: bool) -> None:
        conn = self._conn
        # Sending on a disconnected connection would silently open a new one behind the
        # reader's back; the reader subscribes every channel when it reconnects instead.
        if conn is None or not conn.is_connected:
            return
        if first:
            self._expect_confirmation(channel)
            try:
                await conn.send_command("SUBSCRIBE", channel)
            except (RedisError, OSError):
                return  # the reader notices the broken connection and starts over
        ready = self._ready.get(channel)
        if ready is not None and not ready.done():
            # Until Redis confirms, a message published elsewhere could overtake the SUBSCRIBE.
            # shield(): one impatient subscriber must not cancel what others wait for.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ready), self._socket_timeout)

    async def _unlisten(self, channel: str) -> None:
        self._ready.pop(channel, None)
        conn = self._conn
        if conn is None or not conn.is_connected:
            return
        with contextlib.suppress(RedisError, OSError):
            await conn.send_command("UNSUBSCRIBE", channel)

    def _expect_confirmation(self, channel: str) -> None:
        future = asyncio.get_running_loop().create_future()
        self._ready[channel] = future
        self._in_flight.setdefault(channel, deque()).append(future)

    async def _read_forever(self) -> None:
        backoff = self._min_backoff
        while True:
            conn = self._redis.connection_pool.make_connection()
            try:
                await self._serve(conn)
            except Exception as exc:  # whatever it was, dying here would leave subscribers deaf
                if self._healthy:
                    log.warning("Redis pub/sub connection lost, reconnecting: %s", exc)
                    backoff = self._min_backoff
                else:
                    log.debug("Redis pub/sub still unreachable: %s", exc)
            finally:
                self._lost()
                self._attempted.set()
                await conn.disconnect(nowait=True)
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, self._max_backoff)

    async def _serve(self, conn: AbstractConnection) -> None:
        """Subscribe the current channels on `conn`, then dispatch its replies until it fails."""
        await conn.connect()
        channels = list(self._subscribers)
        for channel in channels:
            self._expect_confirmation(channel)
        self._conn = conn
        if channels:
            await conn.send_command("SUBSCRIBE", *channels)
        # Redis answers in order, so the PONG also proves the SUBSCRIBE above took effect.
        await conn.send_command("PING")
        awaiting_pong = True
        while True:
            reply = await conn.read_response(
                timeout=self._ping_interval, disconnect_on_error=False, push_request=True
            )
            if reply is None:
                # Silence is normal on quiet channels, but a dead peer is silent too.
                if awaiting_pong:
                    raise ConnectionError("Redis did not answer PING")
                await conn.send_command("PING")
                awaiting_pong = True
                continue
            awaiting_pong = False
            self._dispatch(reply)

    def _dispatch(self, reply: Any) -> None:
        # Pub/sub replies are [kind, channel, payload]; PING answers ["pong", ""] while
        # subscribed (RESP2), a plain "PONG" otherwise.
        kind = reply[0] if isinstance(reply, list) else reply
        if kind == "message":
            self._deliver(reply[1], reply[2])
        elif kind == "subscribe":
            self._confirm(reply[1])
        elif kind in ("pong", "PONG") and not self._healthy:
            self._healthy = True
            self.epoch += 1
            self._attempted.set()
            log.info("Redis pub/sub connected")

    def _confirm(self, channel: str) -> None:
        pending = self._in_flight.get(channel)
        if not pending:
            return
        future = pending.popleft()
        if not pending:
            del self._in_flight[channel]
        if not future.done():
            future.set_result(None)

    def _lost(self) -> None:
        self._conn = None
        self._healthy = False
        self.epoch += 1
        # Nothing sent on the dead connection will be confirmed: release whoever waits.
        for pending in self._in_flight.values():
            for future in pending:
                if not future.done():
                    future.set_result(None)
        self._in_flight.clear()
        self._ready.clear()


def open_broker(url: str, *, queue_size: int = QUEUE_SIZE) -> Broker:
    """The broker for `url`: `memory://`, `redis://...` or `rediss://...`."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return MemoryBroker(queue_size=queue_size)
    if scheme in ("redis", "rediss"):
        return RedisBroker(url, queue_size=queue_size)
    # Only the scheme: the URL may carry a password.
    raise ValueError(
        f"unsupported broker URL scheme {scheme!r}: expected memory://, redis:// or rediss://"
    )
