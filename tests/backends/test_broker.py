"""The pub/sub broker, against the in-process backend and a real throwaway redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis

from app.backends.broker import Broker, BrokerUnavailable, Subscription, open_broker
from app.backends.broker.memory import MemoryBroker
from app.backends.broker.redis import RedisBroker
from tests.support.redis_server import RedisServer

# Generous on purpose: it only bounds how long a broken broker can make a test hang.
DEADLINE = 10.0


@pytest.fixture
async def broker(broker_url: str) -> AsyncIterator[Broker]:
    broker = open_broker(broker_url)
    await broker.connect()
    yield broker
    await broker.disconnect()


@pytest.fixture
def channel() -> str:
    return f"test:{uuid.uuid4().hex}"


async def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def laggy_proxy(port: int, delay: float) -> AsyncIterator[int]:
    """A TCP proxy to 127.0.0.1:`port` holding every chunk for `delay` s: a distant Redis."""
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        for task in (
            asyncio.create_task(pipe(reader, upstream_writer)),
            asyncio.create_task(pipe(upstream_reader, writer)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def inspect(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True)


def numsub(server: RedisServer, channel: str) -> int:
    with inspect(server) as client:
        return dict(client.pubsub_numsub(channel))[channel]


def pubsub_connections(server: RedisServer) -> int:
    with inspect(server) as client:
        return sum(1 for entry in client.client_list() if int(entry["sub"]) > 0)


# --- both backends -------------------------------------------------------------------------


async def test_round_trip(broker: Broker, channel: str) -> None:
    async with broker.subscribe(channel) as sub:
        await broker.publish(channel, "hello")
        assert await sub.get(timeout=DEADLINE) == "hello"


async def test_messages_arrive_in_order(broker: Broker, channel: str) -> None:
    sent = [f"m{i}" for i in range(200)]
    async with broker.subscribe(channel) as sub:
        for message in sent:
            await broker.publish(channel, message)
        received = [await sub.get(timeout=DEADLINE) for _ in sent]
    assert received == sent


async def test_fan_out_to_every_subscriber(broker: Broker, channel: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(broker.subscribe(channel)) for _ in range(3)]
        assert broker.subscriber_count(channel) == 3
        await broker.publish(channel, "a")
        await broker.publish(channel, "b")
        for sub in subs:
            assert [await sub.get(timeout=DEADLINE), await sub.get(timeout=DEADLINE)] == [
                "a",
                "b",
            ]


async def test_channels_are_isolated(broker: Broker, channel: str) -> None:
    other = channel + ":other"
    async with broker.subscribe(channel) as sub, broker.subscribe(other) as other_sub:
        await broker.publish(channel, "for-channel")
        await broker.publish(other, "for-other")
        await broker.publish(channel, "for-channel-again")
        # Had a message leaked across, it would come first: it was published first.
        assert await other_sub.get(timeout=DEADLINE) == "for-other"
        assert await sub.get(timeout=DEADLINE) == "for-channel"
        assert await sub.get(timeout=DEADLINE) == "for-channel-again"


async def test_publish_without_subscribers_is_fine(broker: Broker, channel: str) -> None:
    await broker.publish(channel, "nobody listens")


async def test_subscribe_then_publish_at_once_is_never_missed(broker: Broker, channel: str) -> None:
    # Re-subscribing the same channel each round also covers UNSUBSCRIBE/SUBSCRIBE overlap.
    for i in range(50):
        async with broker.subscribe(channel) as sub:
            await broker.publish(channel, f"m{i}")
            assert await sub.get(timeout=DEADLINE) == f"m{i}"


async def test_concurrent_subscribers_are_all_registered_on_return(
    broker: Broker, channel: str
) -> None:
    for i in range(20):
        async with contextlib.AsyncExitStack() as stack:
            subs = await asyncio.gather(
                *(stack.enter_async_context(broker.subscribe(channel)) for _ in range(4))
            )
            await broker.publish(channel, f"m{i}")
            for sub in subs:
                assert await sub.get(timeout=DEADLINE) == f"m{i}"


async def test_leaving_unsubscribes(broker: Broker, channel: str) -> None:
    async with broker.subscribe(channel) as sub:
        assert broker.subscriber_count(channel) == 1
    assert broker.subscriber_count(channel) == 0
    await broker.publish(channel, "too late")
    with pytest.raises(BrokerUnavailable):
        await sub.get(timeout=DEADLINE)


async def test_one_subscriber_leaving_keeps_the_others(broker: Broker, channel: str) -> None:
    async with broker.subscribe(channel) as stays:
        async with broker.subscribe(channel):
            pass
        await broker.publish(channel, "still here")
        assert await stays.get(timeout=DEADLINE) == "still here"


async def test_ping_and_healthy(broker: Broker) -> None:
    assert await broker.ping() is True
    assert broker.healthy is True


async def test_get_times_out(broker: Broker, channel: str) -> None:
    async with broker.subscribe(channel) as sub:
        with pytest.raises(TimeoutError):
            await sub.get(timeout=0.05)


async def test_slow_subscriber_loses_oldest_and_fan_out_goes_on(
    broker_url: str, channel: str
) -> None:
    broker = open_broker(broker_url, queue_size=3)
    await broker.connect()
    try:
        async with broker.subscribe(channel) as slow, broker.subscribe(channel) as fast:
            for i in range(5):
                await broker.publish(channel, f"m{i}")
                assert await fast.get(timeout=DEADLINE) == f"m{i}"
            assert slow.dropped == 2
            assert [await slow.get(timeout=DEADLINE) for _ in range(3)] == ["m2", "m3", "m4"]
    finally:
        await broker.disconnect()


async def test_disconnect_ends_open_subscriptions(broker_url: str, channel: str) -> None:
    broker = open_broker(broker_url)
    await broker.connect()
    async with broker.subscribe(channel) as sub:
        await broker.publish(channel, "last")
        # An iterating consumer must end cleanly instead of waiting forever.
        assert await sub.get(timeout=DEADLINE) == "last"
        consumer = asyncio.create_task(_collect(sub))
        await broker.disconnect()
        assert await asyncio.wait_for(consumer, DEADLINE) == []
        with pytest.raises(BrokerUnavailable):
            await sub.get(timeout=DEADLINE)


async def _collect(sub: Subscription) -> list[str]:
    return [message async for message in sub]


async def test_reading_needs_entering(broker: Broker, channel: str) -> None:
    with pytest.raises(RuntimeError):
        await broker.subscribe(channel).get(timeout=0)


# --- choosing a backend --------------------------------------------------------------------


def test_open_broker_picks_the_backend_by_scheme() -> None:
    assert isinstance(open_broker("memory://"), MemoryBroker)
    # Constructing does not connect, so unreachable addresses are fine here.
    assert isinstance(open_broker("redis://127.0.0.1:1/0"), RedisBroker)
    assert isinstance(open_broker("rediss://user:pw@127.0.0.1:1/0"), RedisBroker)


@pytest.mark.parametrize("url", ["http://user:secret@example.com", "kafka://x", "", "6379"])
def test_open_broker_rejects_other_urls_without_leaking_them(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported broker URL") as caught:
        open_broker(url)
    assert "secret" not in str(caught.value)


# --- Redis only ----------------------------------------------------------------------------


async def test_redis_uses_one_pubsub_connection_for_all_subscribers(
    fresh_redis_server: RedisServer, channel: str
) -> None:
    server = fresh_redis_server
    broker = RedisBroker(server.url)
    await broker.connect()
    channels = [f"{channel}:{i}" for i in range(3)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            for name in channels:
                for _ in range(4):
                    await stack.enter_async_context(broker.subscribe(name))
            assert pubsub_connections(server) == 1
            assert [numsub(server, name) for name in channels] == [1, 1, 1]
        # The last subscriber of each channel left: Redis must stop sending them to us.
        await eventually(
            lambda: all(numsub(server, name) == 0 for name in channels), "channels unsubscribed"
        )
        assert pubsub_connections(server) == 0
    finally:
        await broker.disconnect()


async def test_redis_entering_waits_until_a_distant_redis_confirms(
    redis_server: RedisServer, channel: str
) -> None:
    # Through a slow link the SUBSCRIBE is still on its way when `send` returns, and a
    # publisher close to Redis would overtake it, unless entering waits for the confirmation.
    async with laggy_proxy(redis_server.port, delay=0.1) as port:
        far = RedisBroker(f"redis://127.0.0.1:{port}/0")
        near = RedisBroker(redis_server.url)
        await far.connect()
        try:
            assert far.healthy
            for i in range(3):
                async with far.subscribe(channel) as sub:
                    await near.publish(channel, f"m{i}")
                    assert await sub.get(timeout=DEADLINE) == f"m{i}"
            # A latecomer to a SUBSCRIBE still in flight must wait for the same confirmation.
            fresh = channel + ":fresh"  # not one whose UNSUBSCRIBE is still on its way
            first = far.subscribe(fresh)
            entering = asyncio.create_task(first.__aenter__())
            await eventually(lambda: far.subscriber_count(fresh) == 1, "first registered")
            assert not entering.done()
            async with far.subscribe(fresh) as late:
                await near.publish(fresh, "late")
                assert await late.get(timeout=DEADLINE) == "late"
            await entering
            assert await first.get(timeout=DEADLINE) == "late"
            await first.__aexit__(None, None, None)
        finally:
            await far.disconnect()
            await near.disconnect()


async def test_redis_outage_and_recovery(fresh_redis_server: RedisServer, channel: str) -> None:
    server = fresh_redis_server
    broker = RedisBroker(server.url)
    await broker.connect()
    try:
        assert broker.healthy
        async with broker.subscribe(channel) as sub:
            await broker.publish(channel, "before")
            assert await sub.get(timeout=DEADLINE) == "before"

            epoch = broker.epoch
            server.stop()
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable):
                await broker.publish(channel, "during")
            assert time.monotonic() - started < 5, "publish must fail fast, not hang"
            await eventually(lambda: not broker.healthy, "the broker noticed the outage")
            assert await broker.ping() is False
            # Readers that must not miss anything learn of the loss from `epoch`...
            assert broker.epoch > epoch
            epoch = broker.epoch

            server.start()  # same port
            await eventually(lambda: broker.healthy, "the broker recovered")
            # ...and again of the recovery: the gap before re-subscribing is theirs to re-read.
            assert broker.epoch > epoch
            # Healthy means re-subscribed, so one publish is enough; "during" is gone for good.
            await broker.publish(channel, "after")
            assert await sub.get(timeout=DEADLINE) == "after"
            assert numsub(server, channel) == 1
            assert await broker.ping() is True
    finally:
        await broker.disconnect()
    assert not broker.healthy


async def test_redis_hung_server_is_detected(fresh_redis_server: RedisServer, channel: str) -> None:
    # A frozen server keeps its sockets open, so only the reader's PINGs can tell.
    server = fresh_redis_server
    broker = RedisBroker(server.url, ping_interval=0.2, socket_timeout=0.5)
    await broker.connect()
    try:
        async with broker.subscribe(channel) as sub:
            server.pause()
            try:
                await eventually(lambda: not broker.healthy, "the broker noticed the hang")
                with pytest.raises(BrokerUnavailable):
                    await broker.publish(channel, "during")
            finally:
                server.resume()
            await eventually(lambda: broker.healthy, "the broker recovered")
            await broker.publish(channel, "after")
            assert await sub.get(timeout=DEADLINE) == "after"
    finally:
        await broker.disconnect()


async def test_redis_down_at_startup_then_up(fresh_redis_server: RedisServer, channel: str) -> None:
    server = fresh_redis_server
    server.stop()
    broker = RedisBroker(server.url)
    await asyncio.wait_for(broker.connect(), DEADLINE)  # does not raise, does not hang
    try:
        assert not broker.healthy
        async with broker.subscribe(channel) as sub:
            server.start()
            await eventually(lambda: broker.healthy, "the broker connected")
            await broker.publish(channel, "hello")
            assert await sub.get(timeout=DEADLINE) == "hello"
    finally:
        await broker.disconnect()


async def test_a_reader_cancelled_as_its_message_arrives_is_cancelled() -> None:
    """A cancel (a stop, a client leaving) is never lost to a message arriving at the same
    moment: Python 3.11's wait_for returned the message instead, and the loop ran on."""
    broker = MemoryBroker()
    async with broker.subscribe("c") as sub:
        reader = asyncio.create_task(sub.get(timeout=5))
        await asyncio.sleep(0.01)  # the reader waits for a message
        await broker.publish("c", "m")
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
