"""Rate-limit buckets, the backend picked by URL scheme and imported only when chosen."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.backends.buckets.base import Buckets

__all__ = ["Buckets", "open_buckets"]


def open_buckets(url: str, *, timeout: float = 0.25, cooldown: float = 5.0) -> Buckets:
    """The buckets for `url`; with Redis, calls wait `timeout` at most, and after a failure
    skip Redis for `cooldown` seconds (letting requests through)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from app.backends.buckets.memory import MemoryBuckets

        return MemoryBuckets()
    if scheme in {"redis", "rediss", "redis+sentinel", "redis+cluster"}:
        from app.backends.buckets.redis import RedisBuckets

        return RedisBuckets(url, timeout=timeout, cooldown=cooldown)
    raise ValueError(f"unsupported rate-limit URL scheme {scheme!r} "
                     "(memory://, redis://, redis+sentinel:// or redis+cluster://)")
