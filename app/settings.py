"""Settings read from the environment (all optional)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    mongodb_url: str = "mongomock://"
    mongodb_db: str = "tracker"
    redis_url: str = "memory://"
    admin_key: str = ""
    secret: str = ""
    demo_shop: bool = True
    graphiql: bool = True
    introspection: bool = True
    # Rate limits (token buckets): tracker requests per client address and per visitor,
    # and authenticated operations per key.
    rate_tracker_per_ip: float = 200.0
    burst_tracker_per_ip: int = 400
    rate_tracker_per_visitor: float = 20.0
    burst_tracker_per_visitor: int = 100
    rate_api_per_key: float = 500.0
    burst_api_per_key: int = 1000
    ws_init_timeout_seconds: float = 10.0
    # Background work
    abandoned_cart_tick_seconds: float = 1.0
    outbox_sweep_seconds: float = 2.0
    retention_interval_seconds: float = 3600.0
    generated: tuple[str, ...] = field(default=())

    @property
    def embedded(self) -> bool:
        return self.mongodb_url.startswith("mongomock://")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        mongodb_url = env.get("TRACKER_MONGODB_URL") or "mongomock://"
        embedded = mongodb_url.startswith("mongomock://")
        generated: list[str] = []
        admin_key = env.get("TRACKER_ADMIN_KEY", "")
        if not admin_key:
            admin_key = "adm_" + secrets.token_urlsafe(24)
            generated.append("admin_key")
        secret = env.get("TRACKER_SECRET", "")
        if not secret:
            if not embedded:
                raise SystemExit("TRACKER_SECRET is required with a real MongoDB")
            secret = secrets.token_urlsafe(32)
            generated.append("secret")
        return cls(
            host=env.get("TRACKER_HOST") or "127.0.0.1",
            port=int(env.get("TRACKER_PORT") or 8000),
            mongodb_url=mongodb_url,
            mongodb_db=env.get("TRACKER_MONGODB_DB") or "tracker",
            redis_url=env.get("TRACKER_REDIS_URL") or "memory://",
            admin_key=admin_key,
            secret=secret,
            demo_shop=_bool(env.get("TRACKER_DEMO_SHOP"), embedded),
            graphiql=_bool(env.get("TRACKER_GRAPHIQL"), embedded),
            introspection=_bool(env.get("TRACKER_INTROSPECTION"), embedded),
            rate_tracker_per_ip=float(env.get("TRACKER_RATE_PER_IP") or 200),
            burst_tracker_per_ip=int(env.get("TRACKER_BURST_PER_IP") or 400),
            rate_tracker_per_visitor=float(env.get("TRACKER_RATE_PER_VISITOR") or 20),
            burst_tracker_per_visitor=int(env.get("TRACKER_BURST_PER_VISITOR") or 100),
            rate_api_per_key=float(env.get("TRACKER_RATE_PER_KEY") or 500),
            burst_api_per_key=int(env.get("TRACKER_BURST_PER_KEY") or 1000),
            ws_init_timeout_seconds=float(env.get("TRACKER_WS_INIT_TIMEOUT") or 10),
            generated=tuple(generated),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)
