"""The process's Prometheus metrics: one registry, the series every layer records into.

Placement: here, in the lowest layer, because the lowest layer records the most
(every storage call is timed in `app/backends/storage.py`), and every layer
above may import `app.backends` while `app.backends` imports nothing above it.
The server layer serves the registry (`app/server/metrics.py`, `GET /metrics`)
and sets the gauges that need a look at the platform (up, worker lag) when it
is scraped.

Invariants:
- One registry per process (`REGISTRY`), not prometheus-client's default one:
  each server process serves its own series and only these (plus the process
  and Python collectors). Several servers inside one test process share it.
- Every label is bounded: an event type, an outcome, an operation kind, a
  collection, a driver method, a worker's name. Never a shop, visitor,
  product, URL or key: those would make one series per customer.
- Recording is a dictionary lookup and an add: cheap on the tracker's path.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pymongo.errors import BulkWriteError, DuplicateKeyError

__all__ = [
    "BROKER_UP", "CONTENT_TYPE", "DELIVERIES", "EMBEDDED_CPU", "EVENTS", "REGISTRY", "REQUESTS",
    "REQUEST_DURATION", "STORAGE_DURATION", "STORAGE_ERRORS", "STORAGE_UP",
    "SUBSCRIPTIONS", "TRIGGERS", "WORKER_LAG", "RequestKind", "exposition", "name_request",
    "request_kind", "sample", "timed",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# No `_created` series beside every counter: they double the scrape and nobody alerts on them.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

# Storage calls take 50 µs (embedded) to tens of ms (MongoDB across a network).
STORAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5)
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)

EVENTS = Counter(
    "tracker_events", "Tracker events by type and outcome (stored, duplicate, rejected).",
    ["type", "outcome"], registry=REGISTRY)
REQUEST_DURATION = Histogram(
    "tracker_request_duration_seconds",
    "HTTP requests by operation kind (track, query, mutation, other), first byte in to last out.",
    ["kind"], buckets=REQUEST_BUCKETS, registry=REGISTRY)
REQUESTS = Counter(
    "tracker_requests", "HTTP requests by operation kind and status class (2xx, 4xx, 5xx).",
    ["kind", "status"], registry=REGISTRY)
STORAGE_DURATION = Histogram(
    "tracker_storage_duration_seconds",
    "Storage round trips by collection and driver operation.",
    ["collection", "operation"], buckets=STORAGE_BUCKETS, registry=REGISTRY)
STORAGE_ERRORS = Counter(
    "tracker_storage_errors", "Storage round trips that raised, by collection and operation "
    "(a duplicate key alone is an idempotent write's answer: not counted).",
    ["collection", "operation"], registry=REGISTRY)
STORAGE_DUPLICATES = Counter(
    "tracker_storage_duplicates", "Storage round trips answered with duplicate keys alone, "
    "by collection and operation: idempotent writes meeting their twins (a retried batch, "
    "a presence already taken, two first inserts racing), counted apart from errors.",
    ["collection", "operation"], registry=REGISTRY)
EMBEDDED_CPU = Counter(
    "tracker_embedded_storage_cpu_seconds",
    "CPU spent inside the embedded store's calls (mongomock runs in the server's thread, "
    "and its scans in worker threads; its wall time also counts the time the OS ran other "
    "processes). Absent with MongoDB.",
    registry=REGISTRY)
TRIGGERS = Counter(
    "tracker_triggers", "Triggers fired (stored once, however often retried), by type.",
    ["type"], registry=REGISTRY)
DELIVERIES = Counter(
    "tracker_webhook_deliveries",
    "Webhook deliveries by outcome: delivered, retry (an attempt failed, another is due), "
    "failed (gave up), disabled (the endpoint is off), dropped (endpoint or trigger gone).",
    ["outcome"], registry=REGISTRY)
WORKER_LAG = Gauge(
    "tracker_worker_lag_seconds",
    "How late the oldest due item of each background worker is (0: nothing overdue).",
    ["worker"], registry=REGISTRY)
SUBSCRIPTIONS = Gauge(
    "tracker_subscriptions", "Trigger subscriptions open in this process now.",
    registry=REGISTRY)
BROKER_UP = Gauge("tracker_broker_up", "1 if the broker answered the last look, else 0.",
                  registry=REGISTRY)
STORAGE_UP = Gauge("tracker_storage_up", "1 if storage answered the last look, else 0.",
                   registry=REGISTRY)


class RequestKind:
    """The operation kind of the request under way; GraphQL code names it as it learns it."""

    __slots__ = ("kind",)

    def __init__(self, kind: str = "other") -> None:
        self.kind = kind


# Set by the server's timing middleware for each HTTP request; None elsewhere.
request_kind: ContextVar[RequestKind | None] = ContextVar("tracker_request_kind", default=None)


def name_request(kind: str) -> None:
    """Name the current request's operation kind (no-op outside a timed request)."""
    holder = request_kind.get()
    if holder is not None:
        holder.kind = kind


T = TypeVar("T")


_storage_series: dict[tuple[str, str], tuple[Any, Any, Any]] = {}


def _storage_children(collection: str, operation: str) -> tuple[Any, Any, Any]:
    # `.labels()` takes a lock and builds a tuple: done once per pair, not per call.
    key = (collection, operation)
    children = _storage_series.get(key)
    if children is None:
        children = _storage_series[key] = (STORAGE_DURATION.labels(collection, operation),
                                           STORAGE_ERRORS.labels(collection, operation),
                                           STORAGE_DUPLICATES.labels(collection, operation))
    return children


async def timed(collection: str, operation: str, call: Callable[[], Awaitable[T]],
                embedded: bool = False) -> T:
    """Await `call()`, recording its duration (and a failure) under the storage series.

    `embedded`: the call runs synchronously in this thread (mongomock), so the thread's
    CPU time across it is the store's own work; with a real driver the await lets other
    tasks run, and that CPU would not be the storage's.
    """
    duration, errors, duplicates = _storage_children(collection, operation)
    cpu = time.thread_time() if embedded else 0.0
    began = time.perf_counter()
    try:
        return await call()
    except Exception as exc:
        (duplicates if _duplicates_only(exc) else errors).inc()
        raise
    finally:
        duration.observe(time.perf_counter() - began)
        if embedded:
            EMBEDDED_CPU.inc(time.thread_time() - cpu)


def _duplicates_only(exc: Exception) -> bool:
    """An insert that met documents already there, and nothing else: the answer of an
    idempotent write (a retried batch, a presence already taken), not a failing store."""
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        details = exc.details or {}
        return not details.get("writeConcernErrors") and all(
            e.get("code") == 11000 for e in details.get("writeErrors") or [{}])
    return False


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)


def sample(name: str, **labels: Any) -> float:
    """One sample's value now (0 if absent): benchmarks read the registry with it."""
    value = REGISTRY.get_sample_value(name, labels or None)
    return 0.0 if value is None else value
