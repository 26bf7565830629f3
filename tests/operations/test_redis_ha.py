"""Redis beyond one node: Sentinel and Cluster, against real local servers.

Two servers (as two processes of a deployment, on one store) publish a stream of
triggers; the master that carries them is killed mid-stream. Every subscriber
gets every trigger, none twice: live, from the log while the broker is away,
and by replay with `after` for one that reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from app.backends.broker import Broker, Subscription, open_broker
from app.backends.broker.cluster import ShardReader
from tests.support.live import (
    LiveServer,
    Subscriber,
    eventually,
    log_ids,
    open_shop,
    serving,
    shared_store,
    track,
    two_servers,
)
from tests.support.redis_ha import ClusterSet, SentinelSet, free_port

COUNT = 40
DEADLINE = 60.0  # a failover takes seconds; this only bounds a broken build


@pytest.fixture
def sentinel_set() -> Iterator[SentinelSet]:
    with SentinelSet() as topology:
        yield topology


@pytest.fixture
def cluster_set() -> Iterator[ClusterSet]:
    with ClusterSet() as topology:
        yield topology


async def drained(live: Subscription) -> None:
    """Read what is queued already (the WAKE of the reader's first connection, say), so
    that what follows is what the event under test sent."""
    with contextlib.suppress(TimeoutError):
        while True:
            await live.get(0.2, wake=True)


@contextlib.asynccontextmanager
async def cluster_subscription(cluster_set: ClusterSet) -> AsyncIterator[
        tuple[Broker, Subscription]]:
    """A cluster broker of its own with a subscription to triggers:1, healthy, and what
    its first connection queued read away."""
    broker = open_broker(cluster_set.url)
    await broker.connect()
    try:
        async with broker.subscribe("triggers:1") as live:
            await eventually(lambda: broker.healthy, "the broker was healthy")
            await drained(live)
            yield broker, live
    finally:
        await broker.disconnect()


async def subscribed(server: LiveServer, count: int) -> None:
    assert server.platform is not None
    broker = server.platform.broker
    await eventually(lambda: broker.subscriber_count("triggers:1") >= count and broker.healthy,
                     "the subscriptions were open and the broker healthy")


async def fire(servers: tuple[LiveServer, LiveServer], numbers: range) -> None:
    for n in numbers:
        await track(servers[n % 2], "CUSTOM", eventName=f"e{n}", visitor=f"v{n}")
        await asyncio.sleep(0.05)  # a stream, not a burst: the failover happens within it


async def every_trigger_once_through_a_failover(url: str, kill: object,
                                                subscribers_now: Callable[[], int]) -> None:
    async with shared_store() as store, two_servers(url, store) as servers:
        a, b = servers
        key = await open_shop(a)
        live = [Subscriber(a.ws_url, key).start(), Subscriber(b.ws_url, key).start()]
        resumed_early = Subscriber(b.ws_url, key).start()
        await subscribed(a, 1)
        await subscribed(b, 2)
        try:
            await fire(servers, range(COUNT // 2))
            await resumed_early.wait_for(COUNT // 2)
            await resumed_early.stop()  # a client that drops out as the master dies
            stream = asyncio.create_task(fire(servers, range(COUNT // 2, COUNT)))
            await asyncio.to_thread(kill)  # type: ignore[arg-type]
            await stream
            # Live again, not only from the log: both brokers follow the new master.
            await eventually(lambda: a.platform.broker.healthy and b.platform.broker.healthy,
                             "both brokers were healthy again", DEADLINE)
            await eventually(lambda: subscribers_now() == 2,
                             "the new master routes the channel to both servers", DEADLINE)
            for subscriber in live:
                await eventually(lambda s=subscriber: len(s.ids) >= COUNT,
                                 f"every trigger arrived (got {len(subscriber.ids)})", DEADLINE)
            later = Subscriber(a.ws_url, key, after=resumed_early.ids[-1]).start()
            await later.wait_for(COUNT // 2)
            await asyncio.sleep(1.0)  # several more ticks: nothing arrives twice
            logged = await log_ids(a, key)
        finally:
            for subscriber in [*live, resumed_early]:
                await subscriber.stop()
            await later.stop() if "later" in locals() else None
    assert len(logged) == COUNT
    for subscriber in live:
        assert len(subscriber.ids) == len(set(subscriber.ids)) == COUNT
        assert sorted(subscriber.ids) == sorted(logged)
    replayed = resumed_early.ids + later.ids
    assert len(replayed) == len(set(replayed)) == COUNT  # by replay with `after`: no gap
    assert sorted(replayed) == sorted(logged)


async def test_sentinel_failover_mid_stream_loses_and_repeats_no_trigger(
    sentinel_set: SentinelSet,
) -> None:
    old = sentinel_set.master_port()
    def subscribers_now() -> int:
        master = sentinel_set.replica  # promoted by then
        return int(master.client.pubsub_numsub("triggers:1")[0][1])

    await every_trigger_once_through_a_failover(sentinel_set.url, sentinel_set.kill_master,
                                                subscribers_now)
    assert sentinel_set.master_port() != old  # the broker followed the failover


async def test_cluster_failover_mid_stream_loses_and_repeats_no_trigger(
    cluster_set: ClusterSet,
) -> None:
    old = cluster_set.owner("triggers:1")
    def subscribers_now() -> int:
        owner = cluster_set.owner("triggers:1")
        return int(owner.client.execute_command("PUBSUB", "SHARDNUMSUB", "triggers:1")[1])

    await every_trigger_once_through_a_failover(
        cluster_set.url, lambda: cluster_set.kill_owner("triggers:1"), subscribers_now)
    assert cluster_set.owner("triggers:1") is not old


async def test_cluster_uses_sharded_pub_sub(cluster_set: ClusterSet) -> None:
    async with shared_store() as store, two_servers(cluster_set.url, store) as (a, b):
        key = await open_shop(a)
        async with Subscriber(b.ws_url, key) as subscriber:
            await subscribed(b, 1)
            owner = cluster_set.owner("triggers:1")
            # The server counts its subscriber before Redis has its SSUBSCRIBE: wait for it.
            await eventually(lambda: owner.client.execute_command(
                "PUBSUB", "SHARDNUMSUB", "triggers:1")[1] == 1, "the shard subscription")
            assert owner.client.execute_command("PUBSUB", "NUMSUB", "triggers:1")[1] == 0
            for n in range(5):
                await track(a, "CUSTOM", eventName=f"e{n}", visitor=f"v{n}")
            received = await subscriber.wait_for(5)
    assert len({t["triggerId"] for t in received}) == 5


async def test_cluster_broker_wakes_its_subscribers_when_their_channel_loses_its_node(
    cluster_set: ClusterSet,
) -> None:
    # A feed waits without a timeout while the broker is healthy; only a WAKE tells it that
    # the live channel may have lost triggers and that it should read the log. A shard
    # reader's loss must reach the cluster broker's subscribers, not the reader's own.
    async with cluster_subscription(cluster_set) as (broker, live):
        epoch = broker.epoch
        await asyncio.to_thread(cluster_set.kill_owner, "triggers:1")
        woke = await asyncio.wait_for(live.get(wake=True), DEADLINE)
        assert woke == Subscription.WAKE
        assert broker.epoch != epoch


async def test_cluster_broker_wakes_its_subscribers_as_soon_as_their_node_is_lost(
    cluster_set: ClusterSet,
) -> None:
    # The node and its replica both gone: no failover, so no move. Only the loss itself
    # tells the feed to read the log (every second, while the broker is unhealthy).
    async with cluster_subscription(cluster_set) as (broker, live):
        await asyncio.to_thread(cluster_set.kill_owner_and_its_replica, "triggers:1")
        woke = await asyncio.wait_for(live.get(wake=True), DEADLINE)
        assert woke == Subscription.WAKE
        await eventually(lambda: not broker.healthy, "the broker said it is not healthy")


async def test_cluster_broker_follows_a_channel_whose_slot_moves_to_another_node(
    cluster_set: ClusterSet,
) -> None:
    # A resharding: the old node stays up and unsubscribes the channel's readers itself.
    async with cluster_subscription(cluster_set) as (broker, live):
        # Settled: the supervisor's first looks (every 0.5 s while anything is new) are
        # over, and it reads the slot map again only when something is amiss.
        await asyncio.sleep(2.0)
        await drained(live)
        new = await asyncio.to_thread(cluster_set.move_slot, "triggers:1")
        await eventually(lambda: new.client.execute_command(
            "PUBSUB", "SHARDNUMSUB", "triggers:1")[1] == 1 and broker.healthy,
            "the broker subscribed on the new owner", DEADLINE)
        await broker.publish("triggers:1", "after the move")
        heard = [await asyncio.wait_for(live.get(wake=True), DEADLINE)]
        while heard[-1] != "after the move":
            heard.append(await asyncio.wait_for(live.get(wake=True), DEADLINE))
        # Told to read the log: what was published meanwhile reached no one live.
        assert Subscription.WAKE in heard


async def test_the_cluster_brokers_epoch_only_grows_through_a_failover(
    cluster_set: ClusterSet,
) -> None:
    # A feed compares the epoch with the last it saw: a value it saw before, reached again
    # as the dead node's reader (its epoch grown with every failed reconnect) is dropped,
    # would hide a loss from it.
    seen: list[int] = []
    async with cluster_subscription(cluster_set) as (broker, _):

        async def watch() -> None:
            while True:
                seen.append(broker.epoch)
                await asyncio.sleep(0.01)

        watching = asyncio.create_task(watch())
        old = cluster_set.owner("triggers:1")
        await asyncio.to_thread(cluster_set.kill_owner, "triggers:1")
        # Through the move and past the dead node's reader being dropped.
        await eventually(lambda: broker.healthy and old.host_port() not in broker._readers,
                         "the dead node's reader was dropped", DEADLINE)
        await asyncio.sleep(0.2)
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    assert seen == sorted(seen)



async def test_a_channel_left_and_joined_again_at_once_keeps_its_node_connected(
    cluster_set: ClusterSet,
) -> None:
    # A dashboard reloaded: its trigger feed's last subscriber leaves and a new one joins
    # before the node has answered the SUNSUBSCRIBE. That answer is this process's own,
    # not the node giving the slot away: no reconnect, no WAKE to every subscriber.
    async with cluster_subscription(cluster_set) as (broker, live):
        await asyncio.sleep(2.0)  # settled: the supervisor's first looks are over
        # Another shop's feed on the same node: its reader stays (it holds triggers:1).
        home = cluster_set.owner("triggers:1").port
        other = next(c for c in (f"triggers:{n}" for n in range(2, 500))
                     if cluster_set.owner(c).port == home)
        await drained(live)
        epoch = broker.epoch
        for n in range(3):
            async with broker.subscribe(other):
                pass
            async with broker.subscribe(other) as again:
                await broker.publish(other, f"heard {n}")
                assert await again.get(DEADLINE, wake=True) == f"heard {n}"  # no WAKE
        await asyncio.sleep(0.5)  # a reconnect, were there one, would have bumped it
        assert broker.epoch == epoch and broker.healthy
        await broker.publish("triggers:1", "still here")
        assert await live.get(DEADLINE, wake=True) == "still here"  # and no WAKE before it


async def test_a_channel_placed_on_a_new_node_while_the_supervisor_moves_another_is_heard(
    cluster_set: ClusterSet, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The supervisor moves triggers:1 (its slot resharded) to a node B: a new reader there,
    # connecting. Meanwhile a feed listens to a channel of a third node C: a new reader
    # too, connecting, no channel yet. The supervisor, done with its move, dropped every
    # reader holding no channel, C's among them: that channel then lived on a reader
    # nobody held, never heard again, and `healthy` raised KeyError.
    async with cluster_subscription(cluster_set) as (broker, _):
        await asyncio.sleep(2.0)  # settled: the supervisor looks only when amiss
        masters = {cluster_set.owner(f"triggers:{n}").port for n in range(1, 200)}
        a = cluster_set.owner("triggers:1").port
        b = next(n.port for n in cluster_set.nodes if n.port in masters and n.port != a)
        other = next(f"triggers:{n}" for n in range(2, 1000)
                     if cluster_set.owner(f"triggers:{n}").port not in (a, b))
        connect = ShardReader.connect
        b_connected, c_connecting = asyncio.Event(), asyncio.Event()
        entered: list[asyncio.Task[None]] = []
        heard: asyncio.Queue[str] = asyncio.Queue()

        async def listen() -> None:
            async with broker.subscribe(other) as live:
                while True:
                    await heard.put(await live.get())

        async def interleaved(reader: ShardReader) -> None:
            if not entered:  # B's reader, made by the supervisor's move
                entered.append(asyncio.create_task(listen()))
                await c_connecting.wait()
                await connect(reader)
                b_connected.set()
            else:  # C's, made by the feed: connected once the supervisor's look is over
                c_connecting.set()
                await b_connected.wait()
                await asyncio.sleep(0.5)
                await connect(reader)

        monkeypatch.setattr(ShardReader, "connect", interleaved)
        new = await asyncio.to_thread(cluster_set.move_slot, "triggers:1")
        assert new.port == b
        await eventually(lambda: cluster_set.owner(other).client.execute_command(
            "PUBSUB", "SHARDNUMSUB", other)[1] == 1, "the shard subscription", DEADLINE)
        await eventually(lambda: broker.healthy, "the broker was healthy", 10.0)
        # Its reader is one the supervisor holds: it would move the channel in a failover.
        assert broker._readers[broker._home[other]].channels() == [other]
        await broker.publish(other, "heard")
        try:
            while (message := await asyncio.wait_for(heard.get(), DEADLINE)) != "heard":
                assert message == Subscription.WAKE, message
        finally:
            entered[0].cancel()
            await asyncio.gather(*entered, return_exceptions=True)


async def test_a_process_whose_cluster_cannot_be_reached_starts_tracks_and_is_not_ready(
) -> None:
    # With no node of the cluster answering, the cluster client raises its own
    # RedisClusterException, not a RedisError: the broker's start, its ping and publish,
    # and the rate limits' take let it through, and the process did not start.
    url = f"redis+cluster://127.0.0.1:{free_port()}"
    async with serving(url) as server:
        await open_shop(server)
        tracked = await track(server, "CUSTOM", eventName="e1", visitor="v1")
        ready = await server.http.get("/readyz")
        assert server.platform is not None
        stored = await server.platform.storage.events.count_documents({"shopId": 1})
    assert tracked["eventId"] and stored == 1
    assert ready.status_code == 503
    assert ready.json()["broker"] is False and ready.json()["storage"] is True
