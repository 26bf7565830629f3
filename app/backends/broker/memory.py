"""In-process fan-out: tests and single-process deployments (`memory://`)."""

from __future__ import annotations

from app.backends.broker.base import Broker


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
