"""Redis Cluster (`redis+cluster://`): sharded pub/sub, SPUBLISH and SSUBSCRIBE.

A shard channel lives on the node that owns its hash slot, so a message crosses
one shard instead of being broadcast to every node of the cluster. Publishing
goes through the cluster client (it routes by the channel's slot). Subscribing
uses one reader connection per node that owns a channel this process listens
to: a `ShardReader`, the single-node broker's reader speaking SSUBSCRIBE.

Failover: when a node's reader loses its connection (or the node unsubscribes a
channel itself: its slot moved to another node), a supervisor re-reads the slot
map (every `refresh_seconds` while anything is amiss) and moves each channel
whose slot changed owner to a reader on the new owner. Every loss and every
move bumps `epoch` (which only grows) and wakes the cluster broker's subscribers
(a shard reader holds none of its own: it passes its wake-ups on), so the trigger
feed, which waits without a timeout while the broker is healthy, reads the log
again and misses nothing; `healthy` is false while any channel has no working
reader. A node's SUNSUBSCRIBE that this process did not ask for is the resharding's sign;
the reader counts what it asked per channel, so that a channel left and joined again at
once (a dashboard reloaded) reads its own answer as such, not as a slot moved.

Invariant: every channel's home is a reader the broker holds. A look drops the
readers that hold no channel, and it can run while a new reader connects (the
supervisor's, as a feed listens to a channel of another node): so a channel joins
its reader before `_place` first awaits (and, were one ever not held, `healthy` says
false rather than fail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.backends.breaker import CircuitBreaker
from app.backends.broker.base import QUEUE_SIZE, Broker, BrokerUnavailable
from app.backends.broker.redis import RedisBroker
from app.backends.redis_urls import FAILURES, client

log = logging.getLogger(__name__)
Address = tuple[str, int]


class ShardReader(RedisBroker):
    """The reader of one cluster node: SSUBSCRIBE, one command per channel (CROSSSLOT)."""

    SUBSCRIBE, UNSUBSCRIBE, MESSAGE, SUBSCRIBED = (
        "SSUBSCRIBE", "SUNSUBSCRIBE", "smessage", "ssubscribe")

    def __init__(self, owner: ClusterBroker, address: Address, timeout: float) -> None:
        self._owner = owner
        self.address = address
        self._asked: dict[str, int] = {}  # SUNSUBSCRIBEs sent, not answered yet, per channel
        super().__init__(f"redis://{address[0]}:{address[1]}/0", socket_timeout=timeout)

    @staticmethod
    def _client(url: str, timeout: float) -> Any:
        return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                              retry=Retry(NoBackoff(), 0), protocol=2, decode_responses=True,
                              encoding_errors="replace")

    async def _subscribe_all(self, conn: Any, channels: list[str]) -> None:
        for channel in channels:
            await conn.send_command(self.SUBSCRIBE, channel)

    def _deliver(self, channel: str, message: str) -> None:
        self._owner._deliver(channel, message)

    def _leaving(self, channel: str) -> None:
        self._asked[channel] = self._asked.get(channel, 0) + 1

    def _dispatch(self, reply: Any) -> None:
        if isinstance(reply, list) and reply[:1] == ["sunsubscribe"]:
            channel = reply[1]
            asked = self._asked.pop(channel, 0)
            if asked:  # the answer to this process's own SUNSUBSCRIBE (in order, per channel)
                if asked > 1:
                    self._asked[channel] = asked - 1
                return
            if channel in self._subscribers:
                # Not asked for: the node gave the channel's slot away, a resharding.
                # Dropping the connection makes the reader unhealthy, and the supervisor
                # reads the slot map and moves it.
                raise ConnectionError(f"{self.address} unsubscribed {channel!r}: its slot moved")
        super()._dispatch(reply)

    def _lost(self) -> None:
        self._asked.clear()  # nothing asked on the dead connection will be answered
        super()._lost()

    def wake_readers(self) -> None:
        # This reader's subscriber sets are empty placeholders: the subscriptions, and the
        # feeds that wait on them without a timeout, belong to the cluster broker.
        self._owner.wake_readers()

    def channels(self) -> list[str]:
        return list(self._subscribers)


class ClusterBroker(Broker):
    def __init__(self, url: str, *, queue_size: int = QUEUE_SIZE, publish_timeout: float = 0.25,
                 cooldown: float = 5.0, socket_timeout: float = 1.0,
                 refresh_seconds: float = 0.5) -> None:
        super().__init__(queue_size=queue_size)
        self._cluster = client(url, socket_timeout=publish_timeout,
                               socket_connect_timeout=publish_timeout,
                               retry=Retry(NoBackoff(), 0), decode_responses=True,
                               encoding_errors="replace")
        self.breaker = CircuitBreaker("trigger publishing (Redis Cluster)", cooldown)
        self._timeout = socket_timeout
        self._refresh = refresh_seconds
        self._readers: dict[Address, ShardReader] = {}
        self._home: dict[str, Address] = {}  # channel -> the node whose reader has it
        self._seen: dict[Address, int] = {}  # each reader's epoch when last looked at
        self._moves = 0
        self._reachable = False
        self._supervisor: asyncio.Task[None] | None = None

    # -- the Broker interface -------------------------------------------------------------

    @property  # type: ignore[override]
    def epoch(self) -> int:
        return self._moves + sum(r.epoch for r in self._readers.values())

    @epoch.setter
    def epoch(self, value: int) -> None:
        self._moves = value  # Broker.__init__ starts it at 0

    @property
    def healthy(self) -> bool:
        if not self._reachable:
            return False
        readers = [self._readers.get(a) for a in set(self._home.values())]
        return all(r is not None and r.healthy for r in readers)

    async def connect(self) -> None:
        if self._supervisor is None:
            await self._look()
            self._supervisor = asyncio.create_task(self._supervise(), name="redis-cluster")

    async def disconnect(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.wait([supervisor])
        for reader in self._readers.values():
            await reader.disconnect()
        self._readers.clear()
        self._home.clear()
        await super().disconnect()
        await self._cluster.aclose()

    async def publish(self, channel: str, message: str) -> None:
        if not self.breaker.allow():
            raise BrokerUnavailable("Redis Cluster did not answer lately; not publishing")
        try:
            await self._cluster.spublish(channel, message)
        except FAILURES as exc:
            self.breaker.failed(exc)
            raise BrokerUnavailable(f"cannot publish to Redis Cluster: {exc}") from exc
        self.breaker.succeeded()

    async def ping(self) -> bool:
        try:
            return bool(await self._cluster.ping())
        except FAILURES:
            return False

    async def _listen(self, channel: str, first: bool) -> None:
        if first:
            address = self._owner(channel)
            if address is not None:
                await self._place(channel, address)

    async def _unlisten(self, channel: str) -> None:
        address = self._home.pop(channel, None)
        reader = self._readers.get(address) if address else None
        if reader is not None and channel in reader._subscribers:
            del reader._subscribers[channel]
            await reader._unlisten(channel)

    # -- where each channel is read -------------------------------------------------------

    def _owner(self, channel: str) -> Address | None:
        try:
            node = self._cluster.get_node_from_key(channel)
        except Exception:  # no slot map yet: the supervisor places it later
            return None
        return (node.host, int(node.port)) if node is not None else None

    async def _place(self, channel: str, address: Address) -> None:
        # The channel joins its reader before the first await: a look that runs meanwhile
        # (it drops the readers holding no channel) must see this one held.
        reader = self._readers.get(address)
        new = reader is None
        if reader is None:
            reader = self._readers[address] = ShardReader(self, address, self._timeout)
            self._seen[address] = 0
        self._home[channel] = address
        reader._subscribers.setdefault(channel, set())  # the reader subscribes what it holds
        if new:
            await reader.connect()  # its first connection subscribes the channel
        await reader._listen(channel, not new)

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self._look()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("Redis Cluster: reading the slot map failed", exc_info=True)

    async def _look(self) -> None:
        """Re-read the slot map when anything is amiss, and move channels to their owners."""
        amiss = not self._reachable or any(
            not r.healthy or r.epoch != self._seen.get(a) for a, r in self._readers.items())
        unplaced = [c for c in self._subscribers if c not in self._home]
        if not amiss and not unplaced:
            return
        try:
            await self._cluster.initialize()  # once: the client's own set-up
            await self._cluster.nodes_manager.initialize()  # the slot map, read again now
            self._reachable = True
        except FAILURES as exc:
            if self._reachable:
                log.warning("Redis Cluster unreachable: %s", exc)
            self._reachable = False
            return
        moves = self._moves
        for channel in list(self._subscribers):
            owner = self._owner(channel)
            if owner is not None and owner != self._home.get(channel):
                await self._unlisten(channel)
                await self._place(channel, owner)
                self._moves += 1
        for address, reader in list(self._readers.items()):
            self._seen[address] = reader.epoch
            if not reader.channels():  # nobody's channel lives there now
                del self._readers[address]
                # Its epoch leaves the sum: kept in `_moves`, plus one for the change, so that
                # the epoch only grows (a feed compares it with the last value it saw).
                self._moves += reader.epoch + 1
                with contextlib.suppress(Exception):
                    await reader.disconnect()
        if self._moves != moves:
            self.wake_readers()  # what was published before the move reached nobody
