"""Redis pub/sub (`redis://`, `rediss://`, `redis+sentinel://`): every process sees every
message.

With Sentinel the reader's connection asks the sentinels for the master each time
it connects (`app/backends/redis_urls.py`): after a failover it reconnects, with
backoff, to the new master, and bumps `epoch` so that readers catch up.
The commands and reply kinds are class attributes so that the cluster broker's
shard readers (`cluster.py`) use the same reader with SSUBSCRIBE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.backends.breaker import CircuitBreaker
from app.backends.broker.base import QUEUE_SIZE, Broker, BrokerUnavailable
from app.backends.redis_urls import FAILURES, client

log = logging.getLogger(__name__)


class RedisBroker(Broker):
    """Redis pub/sub over one subscriber connection per broker, fanned out to local queues.

    A background reader owns that connection. It subscribes every channel that has local
    subscribers, and when Redis goes away it reconnects with backoff and subscribes them all
    again, so subscribers live through outages untouched (minus what was published meanwhile).
    """

    SUBSCRIBE, UNSUBSCRIBE, MESSAGE, SUBSCRIBED = "SUBSCRIBE", "UNSUBSCRIBE", "message", "subscribe"

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = QUEUE_SIZE,
        socket_timeout: float = 1.0,
        ping_interval: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 2.0,
        publish_timeout: float = 0.25,
        cooldown: float = 5.0,
    ) -> None:
        super().__init__(queue_size=queue_size)
        self._socket_timeout = socket_timeout
        self._ping_interval = ping_interval
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        # Short timeouts and no hidden retries: with Redis down, publish must fail fast and
        # leave the retrying to the outbox; the reader has its own backoff.
        self._redis = self._client(url, socket_timeout)
        # Publishing happens while a request waits: its own connections, a shorter timeout,
        # and after a failure no publishing for `cooldown` seconds (the outbox keeps the
        # triggers), unless the reader sees Redis answer again before that.
        self._publisher = self._client(url, publish_timeout)
        self.breaker = CircuitBreaker("trigger publishing (Redis)", cooldown)
        self._conn: AbstractConnection | None = None  # the reader's, while it is connected
        self._healthy = False
        self._reader: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()
        # channel -> confirmation of the SUBSCRIBE that currently covers it
        self._ready: dict[str, asyncio.Future[None]] = {}
        # channel -> SUBSCRIBEs sent and not yet confirmed, oldest first, as Redis answers them
        self._in_flight: dict[str, deque[asyncio.Future[None]]] = {}

    @staticmethod
    def _client(url: str, timeout: float) -> Any:
        return client(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            # Plain RESP2 arrays for pub/sub; RESP3 (asked for in the URL) works as well.
            protocol=2,
            decode_responses=True,
            # Bytes someone else published must not look like a broken connection.
            encoding_errors="replace",
        )

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
        await self._publisher.aclose()

    async def publish(self, channel: str, message: str) -> None:
        if not self.breaker.allow():
            raise BrokerUnavailable("Redis did not answer lately; not publishing for a while")
        try:
            await self._publisher.publish(channel, message)
        except FAILURES as exc:
            self.breaker.failed(exc)
            raise BrokerUnavailable(f"cannot publish to Redis: {exc}") from exc
        self.breaker.succeeded()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except FAILURES:
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
                await conn.send_command(self.SUBSCRIBE, channel)
            except FAILURES:
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
        self._leaving(channel)
        with contextlib.suppress(*FAILURES):
            await conn.send_command(self.UNSUBSCRIBE, channel)

    def _leaving(self, channel: str) -> None:
        """This connection is about to be asked to unsubscribe `channel` (a shard reader
        tells its own answer from a node's)."""

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
        await self._subscribe_all(conn, channels)
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

    async def _subscribe_all(self, conn: AbstractConnection, channels: list[str]) -> None:
        if channels:
            await conn.send_command(self.SUBSCRIBE, *channels)

    def _dispatch(self, reply: Any) -> None:
        # Pub/sub replies are [kind, channel, payload]; PING answers ["pong", ""] while
        # subscribed (RESP2), a plain "PONG" otherwise.
        kind = reply[0] if isinstance(reply, list) else reply
        if kind == self.MESSAGE:
            self._deliver(reply[1], reply[2])
        elif kind == self.SUBSCRIBED:
            self._confirm(reply[1])
        elif kind in ("pong", "PONG") and not self._healthy:
            self._healthy = True
            self.breaker.succeeded()  # Redis answers again: no need to wait out the cooldown
            self.epoch += 1
            self.wake_readers()
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
        self.wake_readers()
        # Nothing sent on the dead connection will be confirmed: release whoever waits.
        for pending in self._in_flight.values():
            for future in pending:
                if not future.done():
                    future.set_result(None)
        self._in_flight.clear()
        self._ready.clear()
