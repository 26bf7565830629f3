"""Anonymous history's expiry as stored, as the contract suite runs it: on the embedded
store and, with TRACKER_TEST_MONGODB_URL, on MongoDB, whose TTL index deletes by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app import analytics, tracking
from app.backends.storage import Storage
from app.core.clock import FakeClock, utc
from app.core.events import PENDING_EXPIRY, Context, EventInput, EventType
from app.platform import Platform
from tests.backends.test_storage_contract import storage  # noqa: F401  (the fixture, on every store)
from tests.support.api import make_settings
from tests.support.ttl import read_by_both_folds

# Far ahead of the wall clock, so that a real TTL index deletes nothing while this runs.
NOW = datetime(2036, 3, 1, 12, 0, tzinfo=UTC)


def view(event_id: str, occurred_at: datetime, visitor: str = "anon") -> EventInput:
    return EventInput(type=EventType.PRODUCT_VIEW, category_id="c1", product_id="p1",
                      context=Context(shop_id=1, visitor_id=visitor, event_id=event_id,
                                      occurred_at=occurred_at))


async def test_anonymous_events_are_stored_expiring_the_window_in_days_after_they_occurred(
    storage: Storage,  # noqa: F811
) -> None:
    platform = await Platform.start(make_settings(), clock=FakeClock(NOW), storage=storage)
    try:
        await platform.shops.create("Shop", shop_id=1)
        earlier = NOW - timedelta(days=2, hours=7, milliseconds=250)
        outcomes = await tracking.track(platform, [view("e1", NOW), view("e2", earlier)])
        assert [o.error for o in outcomes] == [None, None]
        # Not counted yet: the TTL index (by `expireAt`) must not delete them.
        assert await expiry(storage) == {"e1": (PENDING_EXPIRY, NOW + timedelta(days=60)),
                                         "e2": (PENDING_EXPIRY, earlier + timedelta(days=60))}
        await read_by_both_folds(platform)
        assert await expiry(storage) == {"e1": ("expireAt", NOW + timedelta(days=60)),
                                         "e2": ("expireAt", earlier + timedelta(days=60))}
        await tracking.track(platform, [view("e3", earlier)])
        # Counted by the traffic rollups, not yet read by the co-occurrence fold.
        await analytics.fold(storage, NOW, shop_id=1)
        await platform.shops.update_settings(1, {"anonymous_history_days": 9})
        await tracking.track(platform, [view("e4", earlier)])
        # The new window re-stamps what is stored, read by both folds (e1, e2) or not (e3),
        # and stamps what comes next (e4).
        assert await expiry(storage) == {"e1": ("expireAt", NOW + timedelta(days=9)),
                                         "e2": ("expireAt", earlier + timedelta(days=9)),
                                         "e3": (PENDING_EXPIRY, earlier + timedelta(days=9)),
                                         "e4": (PENDING_EXPIRY, earlier + timedelta(days=9))}
        await read_by_both_folds(platform)
        assert {e: at for e, (_, at) in (await expiry(storage)).items()} == {
            "e1": NOW + timedelta(days=9), "e2": earlier + timedelta(days=9),
            "e3": earlier + timedelta(days=9), "e4": earlier + timedelta(days=9)}
        assert {f for f, _ in (await expiry(storage)).values()} == {"expireAt"}
    finally:
        await platform.stop()


async def expiry(storage: Storage) -> dict[str, tuple[str, datetime]]:  # noqa: F811
    """Each event's expiry: in which field, and when."""
    out = {}
    for d in await storage.events.find({"shopId": 1}).to_list(None):
        [field] = [f for f in ("expireAt", PENDING_EXPIRY) if f in d]
        out[d["eventId"]] = (field, utc(d[field]))
    return out


async def test_a_new_window_stamps_an_event_a_rebuild_resets_meanwhile(
    storage: Storage,  # noqa: F811
) -> None:
    """A rebuild makes a counted event uncounted again (its expiry moved aside) while the
    re-stamp runs: the event still gets the new window, whichever side it was on."""
    platform = await Platform.start(make_settings(), clock=FakeClock(NOW), storage=storage)
    try:
        await platform.shops.create("Shop", shop_id=1)
        await tracking.track(platform, [view("e1", NOW)])
        await read_by_both_folds(platform)  # counted: expireAt, the default window
        real = storage.events.update_many
        resets: list[int] = []

        async def a_rebuild_resets_after_the_first_write(spec: Any, change: Any, **kw: Any) -> Any:
            result = await real(spec, change, **kw)
            if not resets:  # what a rebuild's reset writes (app/analytics/rebuild.py step 4)
                resets.append((await real({"shopId": 1}, {
                    "$set": {"rolled": False}, "$rename": {"expireAt": PENDING_EXPIRY}})
                    ).modified_count)
            return result

        storage.events.update_many = a_rebuild_resets_after_the_first_write  # type: ignore[method-assign]
        try:
            await platform.shops.update_settings(1, {"anonymous_history_days": 90})
        finally:
            storage.events.update_many = real  # type: ignore[method-assign]
        assert resets == [1]
        await read_by_both_folds(platform)  # the rebuild's own fold
        assert await expiry(storage) == {"e1": ("expireAt", NOW + timedelta(days=90))}
    finally:
        await platform.stop()
