"""Rebuilding a shop's traffic rollups from its raw events (app/analytics/rebuild.py).

What the dashboard would show after a rebuild (the reports read from the rollups)
equals the recount from the raw events, for events the rollups never counted (tracked
with them off, or inserted directly); a rebuild of what was counted live changes no
counter; a crash part way and a run again, and tracking going on meanwhile, end the
same; and `python -m app rebuild-stats` runs.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import analytics, attribution, tracking
from app.analytics import leases, recount
from app.backends.storage import Storage
from app.core import PENDING_EXPIRY
from app.core.clock import FakeClock
from app.core.events import Context, EventInput, EventType
from app.platform import Platform, open_store
from app.server import cli, rebuild_cli
from tests.support.api import make_settings
from tests.support.ttl import mongodb_ttl_monitor, read_by_both_folds

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
FIRST, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
# The module (the package exports its function under the same name).
rebuild_days = importlib.import_module("app.analytics.rebuild")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def event(n: int, visitor: str, when: datetime, type_: str, **fields: Any) -> EventInput:
    return EventInput(type=EventType(type_), context=Context(
        shop_id=1, visitor_id=visitor, event_id=f"e{n}", occurred_at=when), **fields)


def history(base: int = 0, other: str = "") -> list[list[EventInput]]:
    """Four days of two shoppers and a customer, per visitor, oldest first; sessions that
    cross midnight (a cart add and a checkout the next day), a login filing a history.
    `other` names other visitors (and customers) living the same."""
    n = iter(range(base, base + 1000))

    def event(k: int, visitor: str, when: datetime, type_: str, **fields: Any) -> EventInput:
        if "user_id" in fields:
            fields["user_id"] += other
        return globals()["event"](k, visitor + other, when, type_, **fields)

    va = [event(next(n), "va", at(1, 22, 10), "VISIT"),
          event(next(n), "va", at(1, 22, 15), "PRODUCT_VIEW", category_id="c1", product_id="p1"),
          event(next(n), "va", at(1, 23, 50), "CATEGORY_VIEW", category_id="c1"),
          event(next(n), "va", at(2, 0, 10), "CART_ADD", category_id="c1", product_id="p1"),
          event(next(n), "va", at(2, 0, 20), "CHECKOUT", order_id="o-va"),
          event(next(n), "va", at(3, 9, 0), "PRODUCT_VIEW", category_id="c2", product_id="p3")]
    vb = [event(next(n), "vb", at(2, 23, 40), "PRODUCT_VIEW", category_id="c2", product_id="p3"),
          event(next(n), "vb", at(2, 23, 55), "LOGIN", user_id="ub"),
          event(next(n), "vb", at(3, 0, 10), "PRODUCT_VIEW", category_id="c1", product_id="p1"),
          event(next(n), "vb", at(3, 0, 20), "CART_ADD", category_id="c1", product_id="p1"),
          event(next(n), "vb", at(4, 10, 0), "PRODUCT_VIEW", category_id="c1", product_id="p2")]
    vc = [event(next(n), "vc", at(4, 23, 30), "PRODUCT_VIEW", category_id="c1", product_id="p2"),
          event(next(n), "vc", at(4, 23, 45), "CART_ADD", category_id="c1", product_id="p2")]
    return [va, vb, vc]


async def start(storage: Storage, clock: FakeClock, rollups: bool) -> Platform:
    platform = await Platform.start(make_settings(analytics_rollups=rollups), clock=clock,
                                    storage=storage)
    if not await platform.shops.get(1):
        await platform.shops.create("Shop", shop_id=1)
    return platform


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    settings = make_settings()
    store = open_store(settings.mongodb_url, settings.mongodb_db)
    await store.drop()
    yield store
    await store.drop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


async def track_all(platform: Platform, batches: list[list[EventInput]]) -> None:
    for batch in batches:
        outcomes = await tracking.track(platform, batch, importing=True)
        assert [o.error for o in outcomes] == [None] * len(batch)


async def tracked_with_rollups_off(storage: Storage, clock: FakeClock) -> None:
    """The history tracked with the rollups off: events stored without the `rolled` mark."""
    platform = await start(storage, clock, rollups=False)
    try:
        await track_all(platform, history())
    finally:
        await platform.stop()


async def reports(storage: Storage, now: datetime, first: datetime = FIRST,
                  end: datetime = END) -> dict[str, Any]:
    """The four reports as the dashboard reads them (rollups), by hour and by day."""
    await attribution.fold(storage, now)  # sessions and triggers per hour
    within = analytics.span(first, end)
    return {
        "hours": await analytics.stats(storage, 1, analytics.buckets(first, end, "HOUR"), now),
        "days": await analytics.stats(storage, 1, analytics.buckets(first, end, "DAY"), now),
        "products": await analytics.top_products(storage, 1, within, 10, now),
        "categories": await analytics.top_categories(storage, 1, within, 10, now),
        "funnel": await analytics.funnel(storage, 1, within, now),
    }


async def recounted(storage: Storage, first: datetime = FIRST,
                    end: datetime = END) -> dict[str, Any]:
    """The same, recounted from the raw events."""
    within = analytics.span(first, end)
    return {
        "hours": await recount.stats(storage, 1, analytics.buckets(first, end, "HOUR")),
        "days": await recount.stats(storage, 1, analytics.buckets(first, end, "DAY")),
        "products": await recount.top_products(storage, 1, within, 10),
        "categories": await recount.top_categories(storage, 1, within, 10),
        "funnel": await recount.funnel(storage, 1, within),
    }


async def counters(storage: Storage) -> dict[str, Any]:
    """Every rollup document's counters (its guard marks left out; visitor lists as sets)."""
    docs = await storage.rollups.find({"shopId": 1}).to_list(None)
    out = {}
    for doc in docs:
        doc.pop("applied", None)
        for listed in ("vs", "is"):
            if listed in doc:
                doc[listed] = sorted(doc[listed])
        out[doc["_id"]] = doc
    return out


async def rebuild(storage: Storage, clock: FakeClock, first: datetime = FIRST,
                  end: datetime = END, **kwargs: Any) -> int:
    return await analytics.rebuild(storage, 1, first, end, clock, grace=0, **kwargs)


async def test_events_tracked_with_the_rollups_off_are_counted_after_the_rebuild(
        storage: Storage, clock: FakeClock) -> None:
    platform = await start(storage, clock, rollups=False)
    try:
        await track_all(platform, history())
        assert not await storage.events.count_documents({"rolled": {"$exists": True}})
        expected = await recounted(storage)
        assert expected["days"]["totals"]["productViews"] == 6
        assert (await reports(storage, NOW))["days"]["totals"]["productViews"] == 0
        assert await rebuild(storage, clock) == 13
        assert await reports(storage, NOW) == expected
    finally:
        await platform.stop()


async def test_events_inserted_directly_are_counted_after_the_rebuild(
        storage: Storage, clock: FakeClock) -> None:
    """An import that wrote events as stored, without the rollups' `rolled` mark."""
    await tracked_with_rollups_off(storage, clock)
    docs = await storage.events.find({}).to_list(None)
    await storage.drop()
    await storage.events.insert_many(docs)  # the events alone: no session, no presence
    await rebuild(storage, clock)
    assert await reports(storage, NOW) == await recounted(storage)


async def live(storage: Storage, clock: FakeClock) -> None:
    """The history tracked with the rollups on, and folded as the workers would."""
    platform = await start(storage, clock, rollups=True)
    try:
        await track_all(platform, history())
        await read_by_both_folds(platform)
    finally:
        await platform.stop()


async def test_sessions_and_triggers_folded_before_the_shops_hourly_buckets_are_counted(
        storage: Storage, clock: FakeClock) -> None:
    """Data an older version left: sessions and triggers folded by the performance rollups,
    but never into the shop's hourly buckets (kind "t") the stats read."""
    await live(storage, clock)
    await attribution.fold(storage, NOW)
    for name in ("sessions", "triggers"):
        await storage.db[name].update_many({}, {"$unset": {"inShopHours": ""}})
    await storage.db["performance"].delete_many({"kind": "t"})
    expected = await recounted(storage)
    totals = expected["days"]["totals"]
    assert totals["sessions"] > 0 and totals["triggers"] > 0
    assert (await reports(storage, NOW))["days"]["totals"]["sessions"] == 0
    await rebuild(storage, clock)
    assert await reports(storage, NOW) == expected
    await rebuild(storage, clock)
    assert await reports(storage, NOW) == expected


async def test_orders_folded_before_purchases_had_day_buckets_are_counted_after_the_rebuild(
        storage: Storage, clock: FakeClock) -> None:
    """Orders an older version folded: counted per channel and rule, but their lines never
    into the day buckets of purchases the top lists read."""
    await live(storage, clock)
    await attribution.fold(storage, NOW)
    await storage.db["orders"].update_many({}, {"$unset": {"counted.p": ""}})
    await storage.db["performance"].delete_many({"kind": {"$in": ["dp", "dc"]}})
    expected = await recounted(storage)
    assert sum(p["purchases"] for p in expected["products"]) > 0
    assert sum(p["purchases"] for p in (await reports(storage, NOW))["products"]) == 0
    await rebuild(storage, clock)
    assert await reports(storage, NOW) == expected
    await rebuild(storage, clock)
    assert await reports(storage, NOW) == expected


async def test_a_rebuild_of_what_was_counted_live_changes_no_counter(
        storage: Storage, clock: FakeClock) -> None:
    await live(storage, clock)
    before = await counters(storage)
    assert before and await reports(storage, NOW) == await recounted(storage)
    await rebuild(storage, clock)
    assert await counters(storage) == before


async def test_events_expiring_during_a_rebuild_keep_their_counts_on_mongodb(
        storage: Storage, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A day's events are uncounted between the reset and the rebuild's fold: MongoDB's TTL
    index, running then as the last of them expire (60 days on, the shop's window), must
    not take them and their counts."""
    await live(storage, clock)
    before = await counters(storage)
    baseline = rebuild_days.Run.baseline

    async def expiring_meanwhile(run: Any, day: datetime) -> None:
        await baseline(run, day)
        await mongodb_ttl_monitor(storage, day + timedelta(days=61, milliseconds=-1))

    monkeypatch.setattr(rebuild_days.Run, "baseline", expiring_meanwhile)
    await rebuild(storage, clock)
    assert await counters(storage) == before
    # Counted again, each anonymous event left expires by `expireAt` as before.
    anonymous = await storage.events.find({"userId": None}).to_list(None)
    assert anonymous and all("expireAt" in e and PENDING_EXPIRY not in e for e in anonymous)


async def test_steps_a_rebuilds_tail_counts_again_keep_their_counts_on_mongodb(
        storage: Storage, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Day 1 rebuilt: va's steps of day 2 (its session began on day 1) are uncounted again
    at the end; MongoDB's TTL index, running then, must not take them."""
    await live(storage, clock)
    before = await counters(storage)
    tail, fold = rebuild_days.Run.tail, rebuild_days.Run.fold
    tailing: list[bool] = []

    async def marked_tail(run: Any, first: datetime, end: datetime) -> int:
        tailing.append(True)
        return await tail(run, first, end)

    async def expiring_before_the_tails_fold(run: Any) -> int:
        if tailing:
            assert await mongodb_ttl_monitor(storage, at(2, 23) + timedelta(days=60)) > 0
        return await fold(run)

    monkeypatch.setattr(rebuild_days.Run, "tail", marked_tail)
    monkeypatch.setattr(rebuild_days.Run, "fold", expiring_before_the_tails_fold)
    await rebuild(storage, clock, at(1, 0), at(1, 23))
    assert tailing and await counters(storage) == before


async def test_a_rebuild_of_some_days_keeps_the_steps_of_sessions_that_cross_its_edges(
        storage: Storage, clock: FakeClock) -> None:
    """Days 2 and 3 only: va's session of day 1 took steps on day 2, vb's of day 2 on
    day 3, and vc's of day 4 is outside; the funnel of each stays where it was."""
    await live(storage, clock)
    before = await counters(storage)
    await rebuild(storage, clock, at(2, 0), at(3, 12))
    assert await counters(storage) == before
    await rebuild(storage, clock, at(1, 0), at(1, 23))  # the day before: its steps were on 2
    assert await counters(storage) == before


async def test_an_event_folded_alone_live_is_not_counted_twice_by_the_rebuild(
        storage: Storage, clock: FakeClock) -> None:
    """A batch is named by the events it holds: a day's refold of the very events a live
    batch held must not pass for that batch where it left its presences (here the funnel
    step of a session started the day before, whose guard marks were tidied since)."""
    platform = await start(storage, clock, rollups=True)
    try:
        for batch in ([event(1, "va", at(1, 23, 50), "PRODUCT_VIEW", category_id="c1",
                             product_id="p1")],
                      [event(2, "va", at(2, 0, 5), "CART_ADD", category_id="c1",
                             product_id="p1")]):
            await track_all(platform, [batch])
            await analytics.fold(storage, NOW)  # each alone: its batch named by it
        await track_all(platform, [[event(3, "vb", at(1, 10), "PRODUCT_VIEW",
                                          category_id="c1", product_id="p1")]])
        await analytics.fold(storage, NOW + timedelta(hours=1))  # day 1's marks tidied
    finally:
        await platform.stop()
    before = await counters(storage)
    assert before["1:d:" + str(int(at(1, 0).timestamp() * 1000))]["n"]["withCartAdd"] == 1
    await rebuild(storage, clock, at(2, 0), at(3, 0))
    assert await counters(storage) == before


async def test_running_it_twice_gives_the_same_documents(
        storage: Storage, clock: FakeClock) -> None:
    await tracked_with_rollups_off(storage, clock)
    await rebuild(storage, clock)
    once = await counters(storage)
    await rebuild(storage, clock)
    assert await counters(storage) == once
    assert await reports(storage, NOW) == await recounted(storage)


class Crash(Exception):
    pass


async def test_a_rebuild_that_crashed_after_deleting_a_day_is_repaired_by_running_it_again(
        storage: Storage, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    await live(storage, clock)
    expected = await recounted(storage)
    forget = rebuild_days.Run.forget

    async def forget_then_crash(run: Any, day: datetime) -> None:
        await forget(run, day)
        if day == at(3, 0):
            raise Crash

    monkeypatch.setattr(rebuild_days.Run, "forget", forget_then_crash)
    with pytest.raises(Crash):
        await rebuild(storage, clock)
    monkeypatch.undo()
    shown = await reports(storage, NOW)
    assert shown["days"]["buckets"][2]["productViews"] == 0  # day 3's figures are gone
    # The lease went with the crash (released on the way out): a second run may start.
    assert not await leases.held(storage, NOW)
    await rebuild(storage, clock)
    assert await reports(storage, NOW) == expected


async def test_a_rebuild_killed_while_holding_its_lease_is_repaired_once_the_lease_ends(
        storage: Storage, clock: FakeClock) -> None:
    """A killed process cannot release its lease: live folds leave the shop alone and a
    second run is refused until it ends; then a run again repairs the day it left."""
    await live(storage, clock)
    expected = await recounted(storage)
    run = rebuild_days.Run(storage, 1, clock, "killed", 0)
    await run.renew()
    await run.fold()
    await run.forget(at(3, 0))  # ... and the process dies here
    platform = await start(storage, clock, rollups=True)
    try:
        await track_all(platform, [[event(900, "vd", at(4, 11), "PRODUCT_VIEW",
                                          category_id="c1", product_id="p2")]])
    finally:
        await platform.stop()
    assert await analytics.fold(storage, NOW) == 0  # the shop is leased: not counted yet
    with pytest.raises(analytics.LeaseBusy):
        await rebuild(storage, clock)
    clock.advance(seconds=leases.LEASE.total_seconds())
    await rebuild(storage, clock)
    expected = await recounted(storage)
    assert expected["days"]["totals"]["productViews"] == 7
    assert await reports(storage, clock.now()) == expected


async def test_a_rebuild_while_tracking_goes_on_ends_equal_to_the_recount(
        storage: Storage, clock: FakeClock) -> None:
    platform = await start(storage, clock, rollups=False)
    try:
        await track_all(platform, history())  # before the rollups: never counted
        platform.settings = platform.settings.with_(analytics_rollups=True)
        more = history(base=100, other="2")

        async def tracking_goes_on() -> None:
            for batch in more:
                for item in batch:
                    await tracking.track(platform, [item], importing=True)
                    await analytics.fold(storage, NOW)  # the worker, as often as it can
                    await asyncio.sleep(0)

        await asyncio.gather(rebuild(storage, clock), tracking_goes_on())
    finally:
        await platform.stop()
    await analytics.fold(storage, NOW)  # the worker after the lease
    expected = await recounted(storage)
    assert expected["days"]["totals"]["productViews"] == 12
    assert await reports(storage, NOW) == expected


async def test_a_live_fold_between_the_deletion_and_the_reset_counts_nothing_twice(
        storage: Storage, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """An event tracked and the worker folding right after a day's rollups are deleted:
    the worker leaves the leased shop alone, the rebuild counts the event once."""
    await live(storage, clock)
    platform = await start(storage, clock, rollups=True)
    forget = rebuild_days.Run.forget

    async def forget_then_track(run: Any, day: datetime) -> None:
        await forget(run, day)
        if day == at(3, 0):
            await track_all(platform, [[event(950, "ve", at(3, 15), "PRODUCT_VIEW",
                                              category_id="c1", product_id="p1")]])
            assert await analytics.fold(storage, NOW) == 0  # the worker, meanwhile

    monkeypatch.setattr(rebuild_days.Run, "forget", forget_then_track)
    try:
        await rebuild(storage, clock)
    finally:
        await platform.stop()
    expected = await recounted(storage)
    assert expected["days"]["totals"]["productViews"] == 7
    assert await reports(storage, NOW) == expected


async def test_a_day_whose_events_stay_claimed_by_another_folder_is_done_again_then_refused(
        storage: Storage, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim among a day's events after its deletion: a folder outlasted the grace and
    may have counted into what was deleted; the day is done again, and if claims keep
    coming, the rebuild stops and says so (the lease released)."""
    await live(storage, clock)
    forget, attempts = rebuild_days.Run.forget, []

    async def forget_then_a_claim_appears(run: Any, day: datetime) -> None:
        await forget(run, day)
        attempts.append(day)
        await storage.events.update_one({"_id": "1:va:e5", "shopId": 1},
                                        {"$set": {"rolled": False, "foldBatch": "late:1:x"}})

    monkeypatch.setattr(rebuild_days.Run, "forget", forget_then_a_claim_appears)
    with pytest.raises(analytics.StillClaimed):
        await rebuild(storage, clock)
    # va's event e5 is of day 3: days 1 and 2 done once, day 3 tried 1 + REDO times.
    assert attempts == [at(1, 0), at(2, 0)] + [at(3, 0)] * (1 + rebuild_days.REDO)
    assert not await leases.held(storage, NOW)


async def test_a_second_rebuild_of_the_shop_at_once_is_refused(
        storage: Storage, clock: FakeClock) -> None:
    await leases.take(storage, 1, "another", NOW)
    with pytest.raises(analytics.LeaseBusy):
        await rebuild(storage, clock)
    assert await leases.held(storage, NOW) == {1}
    assert await leases.held(storage, NOW, owner="another") == set()


async def test_progress_is_told_after_each_day(storage: Storage, clock: FakeClock) -> None:
    told: list[tuple[int, int]] = []
    await rebuild(storage, clock, at(1, 12), at(3, 1), progress=lambda *a: told.append(a))
    assert told == [(1, 3), (2, 3), (3, 3)]


# -- the command -------------------------------------------------------------------------


def test_the_command_reads_iso_dates_and_times_as_utc() -> None:
    args = rebuild_cli.parser().parse_args(
        ["--shop", "3", "--from", "2026-03-01", "--to", "2026-03-02T10:30:00+02:00"])
    assert (args.shop, args.start, args.end) == (3, at(1, 0), at(2, 8, 30))
    assert args.grace == analytics.REBUILD_GRACE
    with pytest.raises(SystemExit):
        rebuild_cli.parser().parse_args(["--shop", "3", "--from", "March", "--to", "2026"])


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_the_command_rebuilds_and_draws_a_bar_only_on_a_terminal(
        storage: Storage, clock: FakeClock) -> None:
    await tracked_with_rollups_off(storage, clock)
    args = rebuild_cli.parser().parse_args(
        ["--shop", "1", "--from", "2026-03-01", "--to", "2026-03-05", "--grace", "0"])
    out, err = io.StringIO(), Terminal()
    assert await rebuild_cli.run(args, storage, clock, out, err) == 0
    assert out.getvalue() == ("shop 1: 4 days rebuilt (2026-03-01 to 2026-03-04), "
                              "13 events counted\n")
    assert err.getvalue().endswith("\r[" + "#" * 30 + "] 4/4 days\n")
    plain = io.StringIO()
    assert await rebuild_cli.run(args, storage, clock, io.StringIO(), plain) == 0
    assert plain.getvalue() == ""
    assert await reports(storage, NOW) == await recounted(storage)


async def test_the_command_says_why_it_refuses(storage: Storage, clock: FakeClock) -> None:
    await leases.take(storage, 1, "another", NOW)
    err = io.StringIO()
    args = rebuild_cli.parser().parse_args(
        ["--shop", "1", "--from", "2026-03-01", "--to", "2026-03-02", "--grace", "0"])
    assert await rebuild_cli.run(args, storage, clock, io.StringIO(), err) == 1
    assert "being rebuilt by another run" in err.getvalue()
    backwards = rebuild_cli.parser().parse_args(
        ["--shop", "1", "--from", "2026-03-02", "--to", "2026-03-01"])
    assert await rebuild_cli.run(backwards, storage, clock, io.StringIO(), err) == 2


async def live_with_a_window_of_three_days(
        storage: Storage, clock: FakeClock) -> dict[str, Any]:
    """The history counted live, then shop 1's window cut to 3 days; the counters then."""
    await live(storage, clock)
    before = await counters(storage)
    platform = await start(storage, clock, rollups=True)
    try:
        await platform.shops.update_settings(1, {"anonymous_history_days": 3})
    finally:
        await platform.stop()
    return before


async def test_the_command_refuses_days_retention_may_have_emptied_unless_told(
        storage: Storage, clock: FakeClock) -> None:
    """Day 1 counted live, then its anonymous events expired: a rebuild would lose them."""
    before = await live_with_a_window_of_three_days(storage, clock)
    await storage.events.delete_many({"userId": None, "occurredAt": {"$lt": at(2, 12)}})
    argv = ["--shop", "1", "--from", "2026-03-01", "--to", "2026-03-05", "--grace", "0"]
    err = io.StringIO()
    assert await rebuild_cli.run(rebuild_cli.parser().parse_args(argv), storage, clock,
                                 io.StringIO(), err) == 1
    assert "keeps anonymous events from 2026-03-02 12:00 UTC only" in err.getvalue()
    assert await counters(storage) == before
    forced = rebuild_cli.parser().parse_args([*argv, "--include-expired"])
    assert await rebuild_cli.run(forced, storage, clock, io.StringIO(), io.StringIO()) == 0
    assert (await reports(storage, NOW))["days"]["buckets"][0]["visitors"] == 0


async def test_the_command_refuses_days_whose_events_expire_while_it_would_run(
        storage: Storage, clock: FakeClock) -> None:
    """Day 3's anonymous events expire within a day (window 3 days, now the 5th at noon):
    MongoDB's TTL index could take them between the rebuild's count and its reset, and the
    counts with them. Day 4's expire later than that: rebuilt."""
    before = await live_with_a_window_of_three_days(storage, clock)
    err = io.StringIO()
    refused = ["--shop", "1", "--from", "2026-03-03", "--to", "2026-03-05", "--grace", "0"]
    assert await rebuild_cli.run(rebuild_cli.parser().parse_args(refused), storage, clock,
                                 io.StringIO(), err) == 1
    assert "expire before 2026-03-03 12:00 UTC" in err.getvalue()
    assert await counters(storage) == before
    later = ["--shop", "1", "--from", "2026-03-04", "--to", "2026-03-05", "--grace", "0"]
    assert await rebuild_cli.run(rebuild_cli.parser().parse_args(later), storage, clock,
                                 io.StringIO(), io.StringIO()) == 0
    assert await counters(storage) == before


def test_the_server_command_hands_rebuild_stats_over(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(rebuild_cli, "main", lambda argv: seen.append(argv) or 0)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["rebuild-stats", "--shop", "1"])
    assert (stopped.value.code, seen) == (0, [["--shop", "1"]])


def test_python_m_app_rebuild_stats_exits_0_on_an_empty_embedded_store() -> None:
    env = {**os.environ, "TRACKER_MONGODB_URL": "mongomock://"}
    done = subprocess.run(
        [sys.executable, "-m", "app", "rebuild-stats", "--shop", "1", "--from", "2026-03-01",
         "--to", "2026-03-03", "--grace", "0"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "shop 1: 2 days rebuilt (2026-03-01 to 2026-03-02), 0 events counted\n"


def test_days_cover_the_range_whole() -> None:
    assert analytics.days_of(at(1, 23), at(3, 0)) == [at(1, 0), at(2, 0)]
    assert analytics.days_of(at(1, 0), at(1, 0) + timedelta(milliseconds=1)) == [at(1, 0)]
