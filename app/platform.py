"""The running platform: settings, storage, broker and clock, handed to every domain call."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.access import Limiter, Streams
from app.backends.broker import Broker, open_broker
from app.backends.buckets import open_buckets
from app.backends.storage import Storage, open_storage
from app.catalog import Catalog
from app.core import Clock
from app.indexes import INDEXES
from app.settings import Settings
from app.shops import Shops
from app.triggers import FanOut, Outbox, Rules, TriggerFeed
from app.webhooks import Webhooks


def open_store(url: str, db_name: str = "tracker") -> Storage:
    """The storage named by `url`, with every collection this platform uses."""
    return open_storage(url, INDEXES, db_name)


@dataclass
class Platform:
    settings: Settings
    storage: Storage
    broker: Broker
    clock: Clock
    shops: Shops = field(init=False)
    outbox: Outbox = field(init=False)
    feed: TriggerFeed = field(init=False)
    limiter: Limiter = field(init=False)
    streams: Streams = field(init=False)
    fanout: FanOut = field(init=False)
    rules: Rules = field(init=False)
    webhooks: Webhooks = field(init=False)
    catalog: Catalog = field(init=False)
    indexes_made: bool = field(init=False, default=False)  # readiness (GET /readyz)

    def __post_init__(self) -> None:
        self.shops = Shops(self.storage, clock=self.clock)
        self.webhooks = Webhooks(self.storage, self.clock, self.settings)
        self.catalog = Catalog(self.storage, self.clock, self.shops)
        self.outbox = Outbox(self.storage, self.broker, self.clock, self.webhooks,
                             enrich=self.catalog.enrich)
        self.feed = TriggerFeed(self.storage, self.broker, self.clock)
        s = self.settings
        self.limiter = Limiter(s, open_buckets(s.redis_url, timeout=s.redis_timeout_seconds,
                                               cooldown=s.redis_cooldown_seconds))
        self.rules = Rules(self.storage, self.shops, self.clock)
        self.streams = Streams(s.max_connections_per_key, s.max_subscriptions_per_key)
        self.fanout = FanOut(self.storage, self.clock, self.shops, self.rules, self.outbox,
                             self.webhooks)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        clock: Clock | None = None,
        storage: Storage | None = None,
    ) -> Platform:
        storage = storage or open_store(settings.mongodb_url, settings.mongodb_db)
        await storage.create_indexes()
        broker = open_broker(settings.redis_url, publish_timeout=settings.redis_timeout_seconds,
                             cooldown=settings.redis_cooldown_seconds)
        await broker.connect()
        platform = cls(settings=settings, storage=storage, broker=broker, clock=clock or Clock())
        platform.indexes_made = True
        await platform.webhooks.sync()  # the shops' webhook endpoints, before any trigger
        return platform

    async def stop(self) -> None:
        await self.outbox.flush_published()
        await self.catalog.walks.close()  # the fan-out's cursors, kept between its runs
        await self.broker.disconnect()
        await self.limiter.buckets.close()
