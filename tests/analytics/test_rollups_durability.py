"""The traffic rollups equal a recount from the raw events, whatever fails or races.

"Exactly once" for the dashboard's reports (issue 23, point 5): every figure of
`stats` (by hour and by day), `topProducts`, `topCategories` and `funnel`, read from
the rollups, equals the recount of the raw events (app/analytics/recount.py,
tests/support/recount.py), after
1. the tracking fault matrix: each storage call of a shop's evening (three visitors,
   across an hour and midnight, a login filing earlier events, a checkout, a custom
   event, a batch resent) failing once in turn and the request retried;
2. faults inside the fold: each call of the fold failing once, then folding again;
   a fold crashing between its claim and its writes, then another process folding;
3. races: two folds at once, a fold against new events and a login, a batch sent
   twice at once (forced interleavings, tests/support/races.py).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError, OperationFailure

from app import analytics, attribution
from app.backends import folds
from app.core.clock import FakeClock
from app.core.events import Context, EventInput, EventType
from app.platform import Platform, open_store
from app.tracking import pipeline as tracking
from tests.support.api import make_settings
from tests.support.faults import retried, run_matrix, without_faults
from tests.support.races import interleavings
from tests.support.recount import (
    assert_rollups_equal_recount,
    rollup_reports,
    rollups_differ_from_recount,
)

SHOP = 1
EVENING = datetime(2026, 3, 1, 23, 20, tzinfo=UTC)  # the clock when the first batch comes
# The whole history by whole days, and a range with a partial hour at each edge: both
# end after the last event (the funnel counts a session's steps whenever taken).
RANGES = [(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)),
          (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), datetime(2026, 3, 2, 1, 45, tzinfo=UTC))]


def event(visitor: str, n: int, type_: EventType, **fields: Any) -> EventInput:
    return EventInput(type=type_, context=Context(
        shop_id=SHOP, visitor_id=visitor, source_id="site", event_id=f"{visitor}-{n}",
        url="https://shop.example/"), **fields)


def view(visitor: str, n: int, category: str, product: str) -> EventInput:
    return event(visitor, n, EventType.PRODUCT_VIEW, category_id=category, product_id=product)


def add(visitor: str, n: int, category: str, product: str) -> EventInput:
    return event(visitor, n, EventType.CART_ADD, category_id=category, product_id=product,
                 quantity=1, price=5.0)


def evening() -> list[tuple[int, list[EventInput]]]:
    """The shop's evening, batch by batch, each with the minutes to wait before it."""
    return [
        (0, [event("va", 1, EventType.VISIT),
             event("va", 2, EventType.CATEGORY_VIEW, category_id="c1"),
             view("va", 3, "c1", "p1")]),
        (20, [event("vb", 1, EventType.VISIT), view("vb", 2, "c2", "p3"),  # 23:40
              add("vb", 3, "c2", "p3")]),
        (25, [event("vb", 4, EventType.LOGIN, user_id="ub"),  # 00:05, a new day: files
             add("vb", 5, "c1", "p1"),  # 23:40's events; the session of 23:40 goes on
             event("vb", 6, EventType.CHECKOUT, order_id="o1")]),
        (5, [view("va", 4, "c1", "p2"), add("va", 5, "c1", "p2")]),  # 00:10
        (55, [event("vc", 1, EventType.VISIT),  # 01:05
              event("vc", 2, EventType.CUSTOM, event_name="promo"),
              view("vc", 3, "c1", "p1")]),
    ]


RESENT = 2  # the login's batch, sent again as the tracker resends an unanswered batch


async def make_shop(platform: Platform) -> None:
    await platform.shops.create("Shop", shop_id=SHOP)
    platform.clock.advance(seconds=(EVENING - platform.clock.now()).total_seconds())


def answered(outcomes: list[tracking.Outcome]) -> list[Any]:
    for o in outcomes:
        assert o.error is None, o.error
    return [(o.result.event_id, o.result.session_id, o.result.user_id)
            for o in outcomes if o.result is not None]


async def tick(platform: Platform) -> int:
    """The workers' folds (traffic, then sessions and triggers), retried; the retries."""
    now = platform.clock.now()
    _, retries = await retried(lambda: analytics.fold(platform.storage, now))
    _, more = await retried(lambda: attribution.fold(platform.storage, now))
    return retries + more


async def track_evening(platform: Platform, ticks: int = 2) -> tuple[list[Any], int]:
    """Every batch of the evening, each retried until answered; the login's twice. The
    workers fold before the login (it files events already counted) and, with two
    `ticks`, before its second send (which finds its session and events counted)."""
    answers, retries = [], 0
    batches = evening()
    for index, (minutes, _) in enumerate(batches):
        platform.clock.advance(minutes=minutes)
        sends = 2 if index == RESENT else 1
        for send in range(sends):
            platform.clock.advance(seconds=2 * send)
            if index == RESENT and send < ticks:
                retries += await tick(platform)
            outcomes, again = await retried(
                lambda i=index: tracking.track(platform, evening()[i][1]))
            answers.append(answered(outcomes))
            retries += again
    return answers, retries


async def read_and_compare(platform: Platform) -> tuple[Any, int]:
    """The dashboard's reports (folding first, retried as a page reloads), then, with no
    fault injected, what differs from the recount."""
    shown, retries = [], 0
    for within in RANGES:
        answer, again = await retried(lambda w=within: rollup_reports(platform, SHOP, w))
        shown.append(answer)
        retries += again
    with without_faults(platform):
        differences = await rollups_differ_from_recount(platform, SHOP, RANGES)
    return (shown, differences), retries


async def evening_scenario(platform: Platform) -> tuple[Any, int]:
    answers, retries = await track_evening(platform)
    (shown, differences), more = await read_and_compare(platform)
    return (answers, shown, differences), retries + more


async def fresh(clock: FakeClock | None = None) -> Platform:
    from tests.support.faults import fresh_platform
    platform = await fresh_platform(clock)
    await make_shop(platform)
    return platform


# -- the scenario itself ---------------------------------------------------------------


async def test_the_evening_reads_as_worked_out_by_hand() -> None:
    """The runs the matrix compares against count what happened."""
    platform = await fresh()
    await track_evening(platform)
    whole = await rollup_reports(platform, SHOP, RANGES[0])
    await assert_rollups_equal_recount(platform, SHOP, RANGES)
    await platform.stop()
    day1, day2 = whole["stats by day"]["buckets"]
    assert (day1["visitors"], day1["identifiedVisitors"], day1["productViews"],
            day1["categoryViews"], day1["cartAdds"]) == (2, 1, 2, 1, 1)
    assert (day2["visitors"], day2["identifiedVisitors"], day2["productViews"],
            day2["cartAdds"], day2["checkouts"]) == (3, 1, 2, 2, 1)
    assert day2["triggers"] >= 2  # the order completed, the custom event
    totals = whole["stats by day"]["totals"]
    assert (totals["visitors"], totals["identifiedVisitors"]) == (3, 1)
    assert [p["productId"] for p in whole["top products"]] == ["p1", "p2", "p3"]
    assert whole["funnel"]["withCheckout"] == 1


# -- 1. the tracking fault matrix -------------------------------------------------------


async def test_every_figure_equals_a_recount_whatever_tracking_call_fails() -> None:
    failures, faults, retries = await run_matrix(make_shop, evening_scenario)
    assert faults > 30 and retries >= faults
    assert failures == [], f"{len(failures)} of {faults} faults:\n" + "\n".join(failures)
    platform = await fresh()
    (_, _, differences), _ = await evening_scenario(platform)
    await platform.stop()
    assert differences == []


async def test_a_session_going_on_past_a_partial_first_hour_keeps_its_later_steps() -> None:
    """vb's session began at 23:40, inside the range's partial first hour [23:30, 00:00);
    its cart add and checkout at 00:05 count in the funnel as they do from 23:00."""
    platform = await fresh()
    await track_evening(platform)
    shown = await rollup_reports(platform, SHOP, RANGES[1])
    await platform.stop()
    assert shown["funnel"] == {"sessions": 3, "withProductView": 3, "withCartAdd": 2,
                               "withCheckout": 1}


# -- 2. faults inside the fold ----------------------------------------------------------


async def tracked_evening(platform: Platform) -> None:
    """The evening, with the filed events of the login left for the next fold."""
    await make_shop(platform)
    await track_evening(platform, ticks=1)


async def fold_scenario(platform: Platform) -> tuple[Any, int]:
    """The fold, failing where it fails (not retried: a worker's tick ends there), the
    next fold, then the reports and the recount."""
    failed = 0
    try:
        await analytics.fold(platform.storage, platform.clock.now())
    except AutoReconnect:
        failed = 1
    platform.clock.advance(seconds=1)
    _, retries = await retried(lambda: analytics.fold(platform.storage, platform.clock.now()))
    (shown, differences), more = await read_and_compare(platform)
    return (shown, differences), failed + retries + more


@pytest.mark.parametrize("pages", ["one page", "pages of four"])
async def test_every_figure_equals_a_recount_whatever_fold_call_fails(
        pages: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if pages == "pages of four":
        monkeypatch.setattr(folds, "PAGE", 4)
    failures, faults, retries = await run_matrix(tracked_evening, fold_scenario)
    assert faults > 10 and retries >= faults
    assert failures == [], f"{len(failures)} of {faults} faults:\n" + "\n".join(failures)
    platform = await fresh()
    await track_evening(platform, ticks=1)
    (_, differences), _ = await fold_scenario(platform)
    await platform.stop()
    assert differences == []


class Crash(Exception):
    """A process dying at a storage call: it never makes it, nor any after it."""


class CrashAt:
    """Dies at the `nth` call on `collection`."""

    def __init__(self, collection: str, nth: int) -> None:
        self.collection, self.nth, self.seen = collection, nth, 0

    def __call__(self, collection: str) -> None:
        if collection == self.collection:
            self.seen += 1
            if self.seen == self.nth:
                raise Crash(f"crashed at {collection} call {self.nth}")


async def second_process(platform: Platform) -> Platform:
    """Another server process on the same store (its own caches), the same clock."""
    return await Platform.start(platform.settings, clock=platform.clock,
                                storage=platform.storage)


# A fold's calls, batch by batch: events: find the page, claim it, read the batch back;
# rollupSeen: insert the presences, read those that were there already (the evening's
# first batch has some: its visitors were counted before the login); rollups: apply;
# events: finish; rollups: tidy. The events' batch first, then the filed events' (with
# one page).
@pytest.mark.parametrize(("collection", "nth"), [
    ("rollupSeen", 1),  # claimed, nothing counted
    ("rollupSeen", 2),  # presences inserted, those there before not read
    ("rollups", 1),  # presences taken, no counter written
    ("events", 4),  # counters written, facts not finished
    ("rollups", 2),  # finished, not tidied
    ("rollupSeen", 3),  # the filed events claimed, their presences not taken
    ("rollups", 3),  # the filed events' presences taken, not counted
])
@pytest.mark.parametrize("pages", ["one page", "pages of four"])
async def test_a_fold_dying_between_claim_and_apply_is_finished_by_another_process(
        collection: str, nth: int, pages: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if pages == "pages of four":
        monkeypatch.setattr(folds, "PAGE", 4)
    # Every bucket tidied after every apply: the tidy's call is one to crash at.
    monkeypatch.setattr(folds, "TIDY_AFTER", 1)
    monkeypatch.setattr(folds, "TIDY_EVERY", timedelta(0))
    platform = await fresh()
    await track_evening(platform, ticks=1)
    platform.storage.trips.before_call = CrashAt(collection, nth)
    with pytest.raises(Crash):
        await analytics.fold(platform.storage, platform.clock.now())
    platform.storage.trips.before_call = None
    other = await second_process(platform)
    platform.clock.advance(seconds=1)
    await analytics.fold(other.storage, other.clock.now())
    await assert_rollups_equal_recount(other, SHOP, RANGES)
    await other.stop()
    await platform.stop()


async def test_a_presence_insert_that_stored_some_then_failed_counts_each_once_on_the_retry(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # MongoDB's unordered insert stops nowhere in particular when the connection drops:
    # some presences stored (with this batch's id), the rest not, and the answer lost.
    platform = await fresh()
    await track_evening(platform, ticks=1)
    seen = platform.storage.rollupSeen
    real = seen.insert_many

    async def half(docs: list[dict[str, Any]], **options: Any) -> Any:
        await real(docs[: len(docs) // 2 + 1], **options)
        raise AutoReconnect("the connection dropped with half the presences stored")

    monkeypatch.setattr(seen, "insert_many", half)
    with pytest.raises(AutoReconnect):
        await analytics.fold(platform.storage, platform.clock.now())
    monkeypatch.delattr(seen, "insert_many")
    platform.clock.advance(seconds=1)
    await analytics.fold(platform.storage, platform.clock.now())
    await assert_rollups_equal_recount(platform, SHOP, RANGES)
    await platform.stop()


async def test_a_shops_newer_events_wait_while_an_older_batch_of_it_is_stuck(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Were newer batches applied past a stuck one, tidy would pull the stuck batch's marks
    # from the buckets they share once KEEP_APPLIED passed, and its resumption would
    # count there again: a shop's batches are applied in order.
    platform = await fresh()
    batches = evening()
    for _, batch in batches[:2]:
        answered(await tracking.track(platform, batch))
    real, stuck = folds.apply, set()

    async def refusing(target: Any, batch: str, buckets: Any, now: datetime) -> None:
        if not stuck or batch in stuck:
            stuck.add(batch)
            raise AutoReconnect("this batch's counters cannot be written")
        await real(target, batch, buckets, now)

    monkeypatch.setattr(folds, "apply", refusing)
    with pytest.raises(AutoReconnect):
        await analytics.fold(platform.storage, platform.clock.now())
    for _, batch in batches[2:]:
        answered(await tracking.track(platform, batch))
    with pytest.raises(AutoReconnect):  # the worker's next runs: still stuck
        await analytics.fold(platform.storage, platform.clock.now())
    newer = {"shopId": SHOP, "rolled": False, "foldBatch": {"$exists": False}}
    assert await platform.storage.events.count_documents(newer) == sum(
        len(b) for _, b in batches[2:])
    assert await platform.storage.rollups.count_documents({}) == 0
    monkeypatch.setattr(folds, "apply", real)
    await analytics.fold(platform.storage, platform.clock.now())
    await assert_rollups_equal_recount(platform, SHOP, RANGES)
    await platform.stop()


async def test_a_stuck_batch_past_a_full_page_is_resumed_before_newer_events_are_claimed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # After an outage a shop has a backlog; a folder that died after claiming left a batch
    # whose events need not be among the first page's. They are still found first.
    platform = await fresh()
    for _, batch in evening()[:3]:
        answered(await tracking.track(platform, batch))
    pending = await platform.storage.events.find({"rolled": False}).to_list(None)
    assert len(pending) >= 8
    last = [d["_id"] for d in pending[-2:]]  # claimed by a folder that died there
    await platform.storage.events.update_many({"_id": {"$in": last}},
                                              {"$set": {"foldBatch": f"events:{SHOP}:died"}})
    real, applied = folds.apply, []

    async def recorded(target: Any, batch: str, buckets: Any, now: datetime) -> None:
        applied.append(batch)
        await real(target, batch, buckets, now)

    monkeypatch.setattr(folds, "PAGE", 4)
    monkeypatch.setattr(folds, "apply", recorded)
    await analytics.fold(platform.storage, platform.clock.now())
    assert applied[0] == f"events:{SHOP}:died"
    await assert_rollups_equal_recount(platform, SHOP, RANGES)
    await platform.stop()


async def test_taking_presences_fails_on_a_write_error_that_is_not_a_duplicate() -> None:
    # A duplicate means "taken already"; a document refused for another reason (a schema
    # validator, say) is no answer at all: the fold stops there and tries again later.
    class Refusing:
        async def insert_many(self, docs: list[dict[str, Any]], ordered: bool) -> None:
            raise BulkWriteError({"writeErrors": [{"index": 0, "code": 11000},
                                                  {"index": 1, "code": 121}],
                                  "writeConcernErrors": [], "nInserted": 0})

        def find(self, *args: Any) -> Any:
            raise AssertionError("nothing is read back after a refusal")

    with pytest.raises(BulkWriteError):
        await folds.owned(Refusing(), SHOP, "events:1:b", {"1:x": {}, "1:y": {}})


async def two_shops() -> Platform:
    """Shop 1 and shop 2, each with the evening's traffic."""
    platform = await fresh()
    await platform.shops.create("Other", shop_id=2)
    for _, batch in evening():
        for shop in (SHOP, 2):
            answered(await tracking.track(platform, [
                replace(e, context=replace(e.context, shop_id=shop)) for e in batch]))
    return platform


async def test_a_shop_whose_batch_keeps_failing_does_not_stop_the_worker_folding_the_others(
        monkeypatch: pytest.MonkeyPatch) -> None:
    platform = await two_shops()
    real = folds.apply

    async def refusing(target: Any, batch: str, buckets: Any, now: datetime) -> None:
        # Shop 1's events only: say, an hour's document the store refuses, every time.
        if batch.startswith(f"events:{SHOP}:"):
            raise OperationFailure("object to update too large", code=10334)
        await real(target, batch, buckets, now)

    monkeypatch.setattr(folds, "PAGE", 4)  # pages holding both shops' events
    monkeypatch.setattr(folds, "apply", refusing)
    with pytest.raises(OperationFailure):  # the worker logs it; its next run tries again
        await analytics.fold(platform.storage, platform.clock.now())
    # Shop 2's events were all counted by that run (a report would fold them itself).
    assert await platform.storage.events.count_documents({"shopId": 2, "rolled": False}) == 0
    assert await platform.storage.events.count_documents({"shopId": 2, "idRolled": False}) == 0
    await assert_rollups_equal_recount(platform, 2, RANGES)
    assert await platform.storage.events.count_documents({"shopId": SHOP, "rolled": False})
    # Shop 1's filed events wait for its events, unclaimed.
    assert await platform.storage.events.count_documents({"shopId": SHOP, "idRolled": False})
    assert not await platform.storage.events.count_documents(
        {"shopId": SHOP, "idBatch": {"$exists": True}})
    monkeypatch.setattr(folds, "apply", real)
    await analytics.fold(platform.storage, platform.clock.now())
    await assert_rollups_equal_recount(platform, SHOP, RANGES)
    await platform.stop()


async def test_a_store_away_stops_the_workers_fold_at_its_first_failure_not_once_per_shop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # With MongoDB away every call waits out the driver's server selection (30 s): tried
    # shop after shop, one run of the worker would take that long per shop.
    platform = await two_shops()
    tried: list[str] = []

    async def away(target: Any, batch: str, buckets: Any, now: datetime) -> None:
        tried.append(batch)
        raise AutoReconnect("no primary")

    monkeypatch.setattr(folds, "apply", away)
    with pytest.raises(AutoReconnect):
        await analytics.fold(platform.storage, platform.clock.now())
    assert len(tried) == 1
    monkeypatch.undo()
    await analytics.fold(platform.storage, platform.clock.now())  # back: both counted
    for shop in (SHOP, 2):
        await assert_rollups_equal_recount(platform, shop, RANGES)
    await platform.stop()


# -- 3. races ---------------------------------------------------------------------------


async def two_processes() -> tuple[Platform, Platform]:
    """Two server processes on one store, the shop made and the clock at the evening."""
    settings = make_settings(mongodb_url="mongomock://",
                             mongodb_db=f"rollups_{uuid.uuid4().hex[:10]}")
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    clock = FakeClock(EVENING)
    first = await Platform.start(settings, clock=clock, storage=storage)
    await make_shop(first)
    return first, await Platform.start(settings, clock=clock, storage=storage)


async def test_two_folds_at_once_count_every_event_once() -> None:
    first, second = await two_processes()
    await track_evening(first)
    await asyncio.gather(analytics.fold(first.storage, first.clock.now()),
                         analytics.fold(second.storage, second.clock.now()))
    await assert_rollups_equal_recount(first, SHOP, RANGES)
    await first.stop()
    await second.stop()


async def test_a_batch_sent_twice_at_once_counts_once() -> None:
    first, second = await two_processes()
    batches = evening()
    for index, (minutes, _) in enumerate(batches):
        first.clock.advance(minutes=minutes)
        await asyncio.gather(tracking.track(first, evening()[index][1]),
                             tracking.track(second, evening()[index][1]))
    await assert_rollups_equal_recount(first, SHOP, RANGES)
    await first.stop()
    await second.stop()


def upto(last: int) -> Any:
    """A race's setup: the shop, and the evening's batches before `last`, tracked; the
    clock at batch `last`'s time."""

    async def setup(platform: Platform) -> None:
        await make_shop(platform)
        for minutes, batch in evening()[:last]:
            platform.clock.advance(minutes=minutes)
            await tracking.track(platform, batch)
        platform.clock.advance(minutes=evening()[last][0])

    return setup


async def folding(platform: Platform) -> Any:
    return await analytics.fold(platform.storage, platform.clock.now())


async def login_and_more(platform: Platform) -> Any:
    """vb logs in (filing its events of 23:40) and checks out; va comes back."""
    return [await tracking.track(platform, batch) for _, batch in evening()[2:4]]


async def login_batch(platform: Platform) -> Any:
    return await tracking.track(platform, evening()[2][1])


async def equal_to_recount(platform: Platform, *results: Any) -> list[str]:
    problems = [f"a writer failed: {r!r}" for r in results if isinstance(r, Exception)]
    return problems + await rollups_differ_from_recount(platform, SHOP, RANGES)


async def race_both_ways(setup: Any, one: Any, two: Any) -> None:
    runs, failures = 0, []
    for held, other in ((one, two), (two, one)):
        done, failed = await interleavings(setup, held, other, equal_to_recount)
        runs += done
        failures += failed
    assert runs > 10, runs
    assert not failures, f"{len(failures)} of {runs} interleavings:\n" + "\n".join(failures)


async def test_two_folds_interleaved_at_every_call_count_every_event_once() -> None:
    async def setup(platform: Platform) -> None:
        await make_shop(platform)
        await track_evening(platform)

    await race_both_ways(setup, folding, folding)


async def test_a_fold_racing_new_events_and_a_login_counts_each_once() -> None:
    """Events folded while a login files them: counted once, identified once."""
    await race_both_ways(upto(2), folding, login_and_more)


async def test_a_login_batch_sent_twice_at_once_counts_once() -> None:
    await race_both_ways(upto(2), login_batch, login_batch)


async def test_a_shops_report_racing_the_workers_page_counts_what_each_claimed_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 4 events of two shops: the worker's page holds some of shop 1's events, a
    report's (shop 1 only) those and more. Whichever claims second takes part of what
    it read, and counts only what it took."""

    async def setup(platform: Platform) -> None:
        await make_shop(platform)
        await platform.shops.create("Other", shop_id=2)
        for _, batch in evening():
            for shop in (SHOP, 2):
                await tracking.track(platform, [
                    replace(e, context=replace(e.context, shop_id=shop)) for e in batch])

    async def report(platform: Platform) -> Any:
        return await analytics.fold(platform.storage, platform.clock.now(), SHOP)

    async def workers_page(platform: Platform) -> Any:
        return await analytics.fold(platform.storage, platform.clock.now(), seconds=0)

    async def both_shops(platform: Platform, *results: Any) -> list[str]:
        await analytics.fold(platform.storage, platform.clock.now())  # what is left
        return (await equal_to_recount(platform, *results)
                + await rollups_differ_from_recount(platform, 2, RANGES))

    monkeypatch.setattr(folds, "PAGE", 4)
    runs, failures = 0, []
    for held, other in ((report, workers_page), (workers_page, report)):
        done, failed = await interleavings(setup, held, other, both_shops)
        runs, failures = runs + done, failures + failed
    assert runs > 10, runs
    assert not failures, f"{len(failures)} of {runs} interleavings:\n" + "\n".join(failures)


async def test_a_buckets_guard_marks_are_pulled_once_old() -> None:
    # A bucket keeps a mark per batch applied (the guard against applying one twice);
    # marks older than KEEP_APPLIED are pulled when the bucket is folded into again, at
    # most every TIDY_EVERY and TIDY_AFTER batches: a busy day's bucket does not grow
    # with its batches.
    platform = await fresh()
    platform.clock.advance(minutes=40)  # 00:00
    batches = 72  # six hours, a batch every five minutes
    for n in range(batches):
        answered(await tracking.track(platform, [event(f"v{n}", 1, EventType.VISIT)]))
        await analytics.fold(platform.storage, platform.clock.now())
        platform.clock.advance(minutes=5)
    day = (await platform.storage.rollups.find({"kind": "d"}).to_list(None))[0]
    assert day["n"]["visitors"] == batches
    window = (folds.KEEP_APPLIED + folds.TIDY_EVERY) // timedelta(minutes=5)
    assert len(day["applied"]) <= folds.TIDY_AFTER + window + 1
    await platform.stop()


async def test_a_report_folds_a_page_of_each_stream_even_past_its_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A report folds for FOLD_SECONDS, a page past it at most, then reads: a slow page
    # of events (a busy machine) must not leave the visitors a login identified
    # uncounted, their page never started. Here every page takes a whole second.
    platform = await fresh()
    await track_evening(platform, ticks=0)  # nothing folded: the login's filing pending
    seconds = iter(range(0, 10_000))
    monkeypatch.setattr(folds, "clock", lambda: float(next(seconds)))
    for within in RANGES:
        await analytics.stats(platform.storage, SHOP, analytics.buckets(*within, "HOUR"),
                              platform.clock.now())
    monkeypatch.undo()
    assert await platform.storage.events.count_documents({"idRolled": False}) == 0
    await assert_rollups_equal_recount(platform, SHOP, RANGES)
    await platform.stop()
