"""Redis beyond one node: the client for a `TRACKER_REDIS_URL`, whatever its shape.

- `redis://` and `rediss://`: one server (`Redis.from_url`).
- `redis+sentinel://[user:password@]host:port[,host:port...]/<master name>[?db=N]`:
  Redis Sentinel. The client asks the sentinels for the master's address each time
  it connects, so a connection lost in a failover reconnects to the new master.
- `redis+cluster://[user:password@]host:port[,host:port...]`: Redis Cluster; the
  client reads the slot map from any of the nodes and follows it (MOVED, failover).

Only the scheme goes into an error message: the URL may carry a password.

`FAILURES` is what a call to any of them raises when Redis cannot serve it: the
cluster client raises its own `RedisClusterException` (no node answers, a slot not
covered), which is not a `RedisError`. Every caller catches `FAILURES`, not
`RedisError`: else a cluster outage stopped the process at its start and let an
exception through every rate-limited request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.exceptions import RedisClusterException, RedisError

SENTINEL = "redis+sentinel"
CLUSTER = "redis+cluster"
SCHEMES = ("redis", "rediss", SENTINEL, CLUSTER)
FAILURES = (RedisError, RedisClusterException, OSError)


@dataclass(frozen=True)
class RedisTarget:
    scheme: str
    hosts: tuple[tuple[str, int], ...]
    master: str | None  # Sentinel's name of the master
    username: str | None
    password: str | None
    db: int


def parse(url: str) -> RedisTarget:
    """The parts of a `redis+sentinel://` or `redis+cluster://` URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    hosts = []
    for item in hostlist.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{scheme}:// needs host:port[,host:port...]")
        hosts.append((host.strip("[]"), int(port)))
    path = parts.path.strip("/")
    master = unquote(path) if scheme == SENTINEL else None
    if scheme == SENTINEL and not master:
        raise ValueError("redis+sentinel:// needs the master's name: .../<master name>")
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return RedisTarget(scheme, tuple(hosts), master, unquote(username) or None,
                       unquote(password) or None, int(db) if db.isdigit() else 0)


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme.lower() == CLUSTER


def client(url: str, **options: Any) -> Any:
    """A redis.asyncio client for `url` (`Redis`, or `RedisCluster` for a cluster)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss"):
        from redis.asyncio import Redis

        return Redis.from_url(url, **options)
    target = parse(url)
    auth = {"username": target.username, "password": target.password}
    if scheme == SENTINEL:
        from redis.asyncio.sentinel import Sentinel

        timeouts = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout")
                    if k in options}
        sentinel = Sentinel(list(target.hosts), sentinel_kwargs=timeouts)
        assert target.master is not None
        return sentinel.master_for(target.master, db=target.db, **auth, **options)
    if scheme == CLUSTER:
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        options.pop("protocol", None)  # RESP2 is the cluster client's default
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in target.hosts],
                            **auth, **options)
    raise ValueError(f"unsupported Redis URL scheme {scheme!r}")
