"""Time: one source of `now`, replaceable in tests, and the skew-correction rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime (as MongoDB returns them) and cut to milliseconds."""
    if value.tzinfo is UTC and not value.microsecond % 1000:
        return value  # already so (most calls: times this module made): nothing to build
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def to_ms(value: datetime) -> int:
    return int(utc(value).timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class Clock:
    """The wall clock."""

    def now(self) -> datetime:
        return utc(datetime.now(UTC))


class FakeClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = utc(start or datetime(2026, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now = self._now + timedelta(**delta)
        return self._now

    def set(self, value: datetime) -> None:
        self._now = utc(value)


def correct_skew(
    occurred_at: datetime | None,
    received_at: datetime,
    sent_at: datetime | None = None,
) -> datetime:
    """When an event happened, on the server's clock.

    The client's clock may be off. When the client says when it sent the batch
    (`sent_at`, on its own clock), the difference to our receipt time is its offset,
    and shifting `occurred_at` by it puts the event on our clock. Whatever the
    client says, an event never happens after we received it.
    """
    if occurred_at is None:
        return received_at
    try:
        occurred_at = utc(occurred_at)
        if sent_at is not None:
            occurred_at = occurred_at + (received_at - utc(sent_at))
    except OverflowError:
        # A time at the calendar's edge, or a shift past it: the client's clock
        # tells nothing usable, so the event is placed at its receipt.
        return received_at
    return min(occurred_at, received_at)
