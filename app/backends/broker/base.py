"""The broker interface every backend implements, and the local subscription it fans out to."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from types import TracebackType

from app.backends.metrics import SUBSCRIPTIONS

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000


class BrokerUnavailable(Exception):
    """The backend cannot be reached: the message was not published."""


class Subscription:
    """One local subscriber of one channel: an async context manager and async iterator.

    Entering registers the subscriber before it returns, so everything published afterwards
    reaches it (with Redis: while the broker is healthy). Iteration ends, and `get` raises
    `BrokerUnavailable`, once the broker is disconnected. `get(wake=True)` returns WAKE
    (never a message: messages are not empty) when the broker's state changed
    (`Broker.epoch`, `healthy`), so that a reader can wait without a timeout and still
    notice a loss.
    """

    WAKE = ""

    def __init__(self, broker: Broker, channel: str, queue_size: int) -> None:
        self.channel = channel
        self.dropped = 0  # messages discarded because this subscriber fell behind
        self._broker = broker
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_size)
        self._entered = False
        self._closed = False
        self._counted = False

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
        SUBSCRIPTIONS.inc()  # open subscriptions of this process (only the feed subscribes)
        self._counted = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
        if self._counted:
            self._counted = False
            SUBSCRIPTIONS.dec()
        await self._broker._detach(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> str:
        while True:
            message = await self._next(None)
            if message is None:
                raise StopAsyncIteration
            if message != self.WAKE:
                return message

    async def get(self, timeout: float | None = None, *, wake: bool = False) -> str:
        """The next message; `TimeoutError` after `timeout` seconds without one. With
        `wake`, WAKE too when the broker's state changed."""
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        while True:
            message = await self._next(None if end is None else max(0.0, end - loop.time()))
            if message is None:
                raise BrokerUnavailable(f"subscription to {self.channel!r} is closed")
            if wake or message != self.WAKE:
                return message

    async def _next(self, timeout: float | None) -> str | None:
        if not self._entered:
            raise RuntimeError("enter the subscription with 'async with' before reading it")
        if self._closed and self._queue.empty():
            return None
        # Not wait_for: on Python 3.11 a cancel meeting a message is lost (it returns the
        # message), and a cancelled reader's loop would run on.
        async with asyncio.timeout(timeout):
            return await self._queue.get()

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

    def wake_readers(self) -> None:
        """The state changed (a connection lost or back): every reader looks at it."""
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription._put(Subscription.WAKE)

    def _deliver(self, channel: str, message: str) -> None:
        for subscription in self._subscribers.get(channel, ()):
            subscription._put(message)
