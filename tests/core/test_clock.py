"""Time on the server's clock: skew correction, and the fake clock tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from app.core.clock import FakeClock, correct_skew, from_ms, to_ms, utc

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_no_occurred_at_means_received_now() -> None:
    assert correct_skew(None, NOW) == NOW


def test_no_occurred_at_ignores_sent_at() -> None:
    assert correct_skew(None, NOW, NOW - timedelta(hours=3)) == NOW


def test_past_time_is_kept() -> None:
    earlier = NOW - timedelta(minutes=3)
    assert correct_skew(earlier, NOW) == earlier


def test_future_time_is_clamped_to_receipt() -> None:
    assert correct_skew(NOW + timedelta(days=400), NOW) == NOW


def test_client_clock_ahead_is_shifted_back() -> None:
    # The client is 2 h ahead; it saw the event 30 s before it sent the batch.
    sent = NOW + timedelta(hours=2)
    assert correct_skew(sent - timedelta(seconds=30), NOW, sent) == NOW - timedelta(seconds=30)


def test_client_clock_behind_is_shifted_forward() -> None:
    sent = NOW - timedelta(hours=5)
    occurred = sent - timedelta(minutes=1)
    assert correct_skew(occurred, NOW, sent) == NOW - timedelta(minutes=1)


def test_shifted_time_is_still_never_in_the_future() -> None:
    # An event the client claims happened after it sent the batch.
    assert correct_skew(NOW + timedelta(seconds=10), NOW, NOW) == NOW


def test_naive_times_are_taken_as_utc() -> None:
    naive = datetime(2026, 3, 1, 11, 0)
    assert correct_skew(naive, NOW) == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def test_other_time_zones_are_converted() -> None:
    berlin = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=1)))
    assert correct_skew(berlin, NOW) == datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
    assert correct_skew(berlin, NOW).tzinfo == UTC


def test_times_are_cut_to_milliseconds() -> None:
    fine = NOW - timedelta(seconds=1, microseconds=123_456)
    assert correct_skew(fine, NOW).microsecond == 876_000


def test_milliseconds_round_trip() -> None:
    at = utc(datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC))
    assert from_ms(to_ms(at)) == at
    assert to_ms(datetime(1970, 1, 1, 0, 0, 1)) == 1000


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(NOW)
    assert clock.now() == clock.now() == NOW
    assert clock.advance(seconds=90) == NOW + timedelta(seconds=90)
    clock.set(datetime(2030, 1, 1))
    assert clock.now() == datetime(2030, 1, 1, tzinfo=UTC)
