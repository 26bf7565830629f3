"""How late each background worker runs: `tracker_worker_lag_seconds`, looked up when scraped.

A worker's lag is how long its oldest due item has been due: 0 when nothing is
overdue. Each probe is the worker's own "what is due" query sorted by the due
field, limit 1 (so on MongoDB it walks the worker's own index for one key);
it runs once per scrape, never on a request's path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.abandonment import cart_due_query as cart_due
from app.abandonment import session_due_query as session_due
from app.backends.metrics import WORKER_LAG
from app.platform import Platform
from app.webhooks import due_deliveries as delivery_due

log = logging.getLogger("tracker.metrics")

OUTBOX_GRACE = timedelta(seconds=2)  # the sweep leaves younger triggers to their process


@dataclass(frozen=True)
class Probe:
    worker: str
    collection: str
    query: Callable[[datetime], dict[str, Any]]
    field: str
    # The due field's value -> when the item became due.
    due_at: Callable[[Any], datetime]


def _ms(value: Any) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _date(value: Any) -> datetime:
    return value


PROBES = (
    Probe("abandoned_carts", "carts", cart_due, "dueAt", _date),
    Probe("abandoned_sessions", "visitors",
          lambda now: session_due(int(now.timestamp() * 1000)), "wDueMs", _ms),
    Probe("abandoned_closed_sessions", "sessions",
          lambda now: session_due(int(now.timestamp() * 1000)), "wDueMs", _ms),
    Probe("audiences", "memberships", lambda now: {"dueAt": {"$lte": now}}, "dueAt", _date),
    Probe("audience_jobs", "audienceJobs", lambda now: {"dueAt": {"$lte": now}}, "dueAt",
          _date),
    Probe("outbox", "triggers",
          lambda now: {"published": False, "firedAt": {"$lte": now - OUTBOX_GRACE}},
          "firedAt", lambda v: v + OUTBOX_GRACE),
    Probe("webhook_deliveries", "webhook_deliveries", delivery_due, "nextAttemptAt", _date),
)


async def measure(platform: Platform) -> None:
    """Set the lag of every worker (a probe that fails leaves its last value)."""
    now = platform.clock.now()
    for probe in PROBES:
        try:
            oldest = await getattr(platform.storage, probe.collection).find(
                probe.query(now), {probe.field: 1}).sort(probe.field, 1).limit(1).to_list(1)
        except Exception:
            log.warning("worker lag of %s: storage did not answer", probe.worker)
            continue
        lag = 0.0
        if oldest and oldest[0].get(probe.field) is not None:
            due_at = probe.due_at(oldest[0][probe.field])
            if due_at.tzinfo is None:  # mongomock hands naive UTC back
                due_at = due_at.replace(tzinfo=now.tzinfo)
            lag = max(0.0, (now - due_at).total_seconds())
        WORKER_LAG.labels(probe.worker).set(lag)
