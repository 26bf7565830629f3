"""Rate-limit buckets, the backend picked by URL scheme and imported only when chosen."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.backends.buckets.base import Buckets

__all__ = ["Buckets", "open_buckets"]


def open_buckets(url: str) -> Buckets:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from app.backends.buckets.memory import MemoryBuckets

        return MemoryBuckets()
    if scheme in {"redis", "rediss"}:
        from app.backends.buckets.redis import RedisBuckets

        return RedisBuckets(url)
    raise ValueError(f"unsupported rate-limit URL scheme {scheme!r} (memory:// or redis://)")
