"""The running platform: settings, storage, broker and clock, handed to every domain call."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.broker import Broker, open_broker
from app.clock import Clock
from app.limits import Limiter, open_buckets
from app.settings import Settings
from app.shops import Shops
from app.storage import Storage, open_storage
from app.triggers import TriggerLog


@dataclass
class Platform:
    settings: Settings
    storage: Storage
    broker: Broker
    clock: Clock
    shops: Shops = field(init=False)
    triggers: TriggerLog = field(init=False)
    limiter: Limiter = field(init=False)

    def __post_init__(self) -> None:
        self.shops = Shops(self.storage)
        self.triggers = TriggerLog(self.storage, self.broker, self.clock)
        self.limiter = Limiter(self.settings, open_buckets(self.settings.redis_url))

    @classmethod
    async def start(
        cls,
        settings: Settings,
        clock: Clock | None = None,
        storage: Storage | None = None,
    ) -> Platform:
        storage = storage or open_storage(settings.mongodb_url, settings.mongodb_db)
        await storage.create_indexes()
        broker = open_broker(settings.redis_url)
        await broker.connect()
        return cls(settings=settings, storage=storage, broker=broker, clock=clock or Clock())

    async def stop(self) -> None:
        await self.triggers.flush_published()
        await self.broker.disconnect()
        await self.limiter.buckets.close()
