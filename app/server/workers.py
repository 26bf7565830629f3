"""Background work in every server process: abandoned carts and sessions, the trigger outbox,
retention."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app import analytics, audiences, catalog, recommendations
from app.abandonment import fire_due, fire_due_sessions
from app.attribution import fold
from app.identity import expire_anonymous
from app.platform import Platform
from app.recommendations import fold_backlog as fold_cooccurrence
from app.webhooks import Sender
from schema.triggers import Trigger

log = logging.getLogger("tracker.workers")
FEED_POLL_TICK = 5.0  # how often the shops' feeds are looked at; each has its own period
ROLLUP_SECONDS = 5.0
FOLD_SECONDS = 1.0  # product views reach co-occurrence within about this
TRAFFIC_SECONDS = 1.0  # a report folds what is left itself: this only keeps that small


def trigger_fields() -> list[str]:
    """The GraphQL Trigger's field names: a webhook's `data` has exactly these."""
    return [f.graphql_name or _camel(f.python_name)
            for f in Trigger.__strawberry_definition__.fields]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


class Workers:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._tasks: list[asyncio.Task[None]] = []

    def jobs(self) -> list[tuple[str, float, Callable[[], Awaitable[object]]]]:
        """(name, seconds between runs, one run) of every periodic worker."""
        platform = self.platform
        settings, outbox = platform.settings, platform.outbox
        tick = settings.abandoned_cart_tick_seconds
        return [job for job in [
            ("abandoned carts", tick, lambda: fire_due(platform)),
            ("abandoned sessions", tick, lambda: fire_due_sessions(platform)),
            ("audiences", tick, lambda: audiences.tick(platform)),
            # The catalog sits below recommendations: its triggers get them handed in here.
            ("catalog fan-out", tick, lambda: catalog.tick(platform, recommendations.attach)),
            ("catalog feeds", FEED_POLL_TICK, lambda: catalog.poll(platform)),
            ("co-occurrence", FOLD_SECONDS, lambda: fold_cooccurrence(platform)),
            ("published marks", 0.2, outbox.flush_published),
            ("outbox sweep", settings.outbox_sweep_seconds, outbox.sweep),
            ("trigger fan-out", settings.fanout_tick_seconds, self._fan_out),
            # Performance rollups (app/attribution/rollups.py): reports fold what is left.
            ("performance rollups", ROLLUP_SECONDS,
             lambda: fold(platform.storage, platform.clock.now())),
            # Traffic rollups (app/analytics/rollups.py): the dashboard's reports read them.
            ("traffic rollups", TRAFFIC_SECONDS,
             lambda: analytics.fold(platform.storage, platform.clock.now())),
            # Busy hours and days that closed: their dense sketches (app/analytics/closing.py).
            ("closed buckets", analytics.CLOSING_SECONDS,
             lambda: analytics.keep_dense(platform.storage, platform.clock.now())),
            ("retention", settings.retention_interval_seconds,
             lambda: expire_anonymous(platform)),
        ] if job[0] not in ("traffic rollups", "closed buckets") or settings.analytics_rollups]

    def start(self) -> None:
        for name, seconds, job in self.jobs():
            self._every(name, seconds, job)
        settings = self.platform.settings
        self.sender = Sender(self.platform.storage, self.platform.clock, settings,
                             self.platform.webhooks, fields=trigger_fields())
        self._tasks.append(asyncio.create_task(self.sender.run(), name="webhook deliveries"))

    async def _fan_out(self) -> None:
        """Rounds of the fan-out jobs, one step per shop each, until none is open."""
        while await self.platform.fanout.tick():
            pass

    def _every(self, name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        async def loop() -> None:
            while True:
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # A storage or broker hiccup must not stop the loop; the next run retries.
                    shops = getattr(exc, "shops", None)
                    if shops is not None:  # a fold's: it logged each failed batch already
                        log.error("%s: shops %s wait for the next run, in %.1fs (%s)",
                                    name, sorted(shops), seconds, exc)
                    else:
                        log.exception("%s failed; retrying in %.1fs", name, seconds)
                await asyncio.sleep(seconds)

        self._tasks.append(asyncio.create_task(loop(), name=name))

    async def stop(self, drain: float = 0.0) -> None:
        """Stop every loop; the webhook attempts under way get `drain` seconds to finish."""
        if hasattr(self, "sender"):
            self.sender.drain = drain
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
