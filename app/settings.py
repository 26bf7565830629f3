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
    # WebSocket connections and trigger subscriptions one key may hold per process.
    max_connections_per_key: int = 50
    max_subscriptions_per_key: int = 200
    # Guessing keys: wrong keys a second per client address, after a burst (RATE_LIMITED).
    rate_auth_failures_per_ip: float = 1.0
    burst_auth_failures_per_ip: int = 20
    # Proxies whose X-Forwarded-For is believed: addresses or CIDRs, comma-separated;
    # "none" believes nobody (app/server/proxies.py).
    trusted_proxies: str = "127.0.0.1,::1"
    # Bounds on one request: the time to send its body, its head's size, its query's cost,
    # and the time to answer it.
    body_timeout_seconds: float = 10.0
    max_header_bytes: int = 64 * 1024
    max_query_cost: int = 100_000
    request_timeout_seconds: float = 10.0
    # Redis calls on the request path: a short timeout, then Redis is skipped for a while.
    redis_timeout_seconds: float = 0.25
    redis_cooldown_seconds: float = 5.0
    # The tracker's `track` answered without the general GraphQL machinery (app/server/fastpath.py)
    fast_path: bool = True
    # Background work
    abandoned_cart_tick_seconds: float = 1.0
    outbox_sweep_seconds: float = 2.0
    fanout_tick_seconds: float = 0.2  # how often open fan-out jobs are looked for
    retention_interval_seconds: float = 3600.0
    # The dashboard's reports read rollups folded from the events (app/analytics/rollups.py);
    # off: events are not marked for them and the reports recount the raw events (bench).
    analytics_rollups: bool = True
    # Webhooks (docs/webhooks.md): the retry schedule in seconds, the attempt timeout,
    # bounds on attempts in flight, how often the due deliveries are looked for, and
    # whether endpoints may resolve to loopback/private/link-local addresses.
    webhook_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhook_timeout_seconds: float = 15.0
    webhook_concurrency: int = 100
    webhook_concurrency_per_endpoint: int = 10
    webhook_concurrency_per_shop: int = 25  # a quarter of the slots: one shop never takes all
    webhook_poll_seconds: float = 1.0
    webhook_allow_private: bool = False
    # On SIGTERM: how long requests and webhook attempts under way get to finish.
    shutdown_seconds: float = 15.0
    # Log lines: "text" (uvicorn's) or "json" (one object a line, app/server/logs.py).
    log_format: str = "text"
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
        values: dict[str, object] = {
            "mongodb_url": mongodb_url, "admin_key": admin_key, "secret": secret,
            "generated": tuple(generated),
            # What is on by default in embedded mode only:
            "demo_shop": embedded, "graphiql": embedded, "introspection": embedded,
            "webhook_allow_private": embedded,
        }
        defaults = cls(**values)  # type: ignore[arg-type]
        for name, var in ENV_NAMES.items():
            default = getattr(defaults, name)
            given = env.get(var)
            if given or (given == "" and name in EMPTY_IS_A_VALUE):
                values[name] = _bool(given, default) if isinstance(default, bool) \
                    else type(default)(given)
        return cls(**values)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)


# Settings whose empty value says something ("" for the schedule: no retries); for the
# others an empty variable is as good as none (the default).
EMPTY_IS_A_VALUE = frozenset({"webhook_schedule"})

# The environment variable of each setting; the defaults are the fields' own.
ENV_NAMES = {
    "host": "TRACKER_HOST",
    "port": "TRACKER_PORT",
    "mongodb_db": "TRACKER_MONGODB_DB",
    "redis_url": "TRACKER_REDIS_URL",
    "demo_shop": "TRACKER_DEMO_SHOP",
    "graphiql": "TRACKER_GRAPHIQL",
    "introspection": "TRACKER_INTROSPECTION",
    "rate_tracker_per_ip": "TRACKER_RATE_PER_IP",
    "burst_tracker_per_ip": "TRACKER_BURST_PER_IP",
    "rate_tracker_per_visitor": "TRACKER_RATE_PER_VISITOR",
    "burst_tracker_per_visitor": "TRACKER_BURST_PER_VISITOR",
    "rate_api_per_key": "TRACKER_RATE_PER_KEY",
    "burst_api_per_key": "TRACKER_BURST_PER_KEY",
    "ws_init_timeout_seconds": "TRACKER_WS_INIT_TIMEOUT",
    "max_connections_per_key": "TRACKER_MAX_CONNECTIONS_PER_KEY",
    "max_subscriptions_per_key": "TRACKER_MAX_SUBSCRIPTIONS_PER_KEY",
    "rate_auth_failures_per_ip": "TRACKER_AUTH_FAILURE_RATE",
    "burst_auth_failures_per_ip": "TRACKER_AUTH_FAILURE_BURST",
    "trusted_proxies": "TRACKER_TRUSTED_PROXIES",
    "body_timeout_seconds": "TRACKER_BODY_TIMEOUT",
    "max_header_bytes": "TRACKER_MAX_HEADER_BYTES",
    "max_query_cost": "TRACKER_MAX_QUERY_COST",
    "request_timeout_seconds": "TRACKER_REQUEST_TIMEOUT",
    "redis_timeout_seconds": "TRACKER_REDIS_TIMEOUT",
    "redis_cooldown_seconds": "TRACKER_REDIS_COOLDOWN",
    "fast_path": "TRACKER_FAST_PATH",
    "webhook_schedule": "TRACKER_WEBHOOK_SCHEDULE",
    "webhook_timeout_seconds": "TRACKER_WEBHOOK_TIMEOUT",
    "webhook_concurrency": "TRACKER_WEBHOOK_CONCURRENCY",
    "webhook_concurrency_per_endpoint": "TRACKER_WEBHOOK_CONCURRENCY_PER_ENDPOINT",
    "webhook_concurrency_per_shop": "TRACKER_WEBHOOK_CONCURRENCY_PER_SHOP",
    "webhook_poll_seconds": "TRACKER_WEBHOOK_POLL",
    "webhook_allow_private": "TRACKER_WEBHOOK_ALLOW_PRIVATE",
    "shutdown_seconds": "TRACKER_SHUTDOWN_SECONDS",
    "analytics_rollups": "TRACKER_ANALYTICS_ROLLUPS",
    "log_format": "TRACKER_LOG_FORMAT",
}
