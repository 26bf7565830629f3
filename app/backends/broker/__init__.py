"""Pub/sub broker: one small backend interface, the backend picked by URL scheme.

`memory://` fans out inside this process; `redis://` and `rediss://` go through Redis pub/sub,
so every process sees every message; `redis+sentinel://` follows a Sentinel failover and
`redis+cluster://` uses a cluster's sharded pub/sub (SPUBLISH/SSUBSCRIBE, `cluster.py`).
Delivery is at most once: whatever is published while the backend is unreachable is lost
here, and the application's outbox publishes it again.
Backends are imported only when chosen, as encode/broadcaster does.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from app.backends.broker.base import QUEUE_SIZE, Broker, BrokerUnavailable, Subscription

__all__ = ["Broker", "BrokerUnavailable", "Subscription", "open_broker"]


def open_broker(url: str, *, queue_size: int = QUEUE_SIZE, publish_timeout: float = 0.25,
                cooldown: float = 5.0) -> Broker:
    """The broker for `url`: `memory://`, `redis://...` or `rediss://...`.

    With Redis a publish waits `publish_timeout` at most; after a failure, publishing
    is skipped for `cooldown` seconds (or until Redis answers the reader again).
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from app.backends.broker.memory import MemoryBroker

        return MemoryBroker(queue_size=queue_size)
    if scheme == "redis+cluster":
        from app.backends.broker.cluster import ClusterBroker

        return ClusterBroker(url, queue_size=queue_size, publish_timeout=publish_timeout,
                             cooldown=cooldown)
    if scheme in ("redis", "rediss", "redis+sentinel"):
        from app.backends.broker.redis import RedisBroker

        return RedisBroker(url, queue_size=queue_size, publish_timeout=publish_timeout,
                           cooldown=cooldown)
    # Only the scheme: the URL may carry a password.
    raise ValueError(
        f"unsupported broker URL scheme {scheme!r}: expected memory://, redis://, rediss://, "
        "redis+sentinel:// or redis+cluster://"
    )
