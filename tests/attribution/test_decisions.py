"""The pure parts of attribution: holdout draws, the decision, the lift interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.attribution.decide import decide
from app.attribution.lift import lift_of
from app.triggers import held_out

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
WEEK = 7 * 86400


def mark(tid: str, at: datetime) -> dict:
    return {"triggerId": tid, "ruleId": "r1", "type": "ABANDONED_CART", "at": at}


def test_a_holdout_draws_its_share_and_keeps_each_customer_where_it_put_them():
    customers = [f"u{i}" for i in range(20_000)]
    held = [c for c in customers if held_out("rule-a", c, 20)]
    assert abs(len(held) / len(customers) - 0.20) < 0.01
    assert held == [c for c in customers if held_out("rule-a", c, 20)]
    other = {c for c in customers if held_out("rule-b", c, 20)}
    assert other != set(held)  # each rule draws its own
    assert not any(held_out("rule-a", c, 0) for c in customers[:1000])


def test_a_click_comes_before_a_later_view():
    marks = {"click": mark("t-click", T0 - timedelta(days=2)),
             "view": mark("t-view", T0 - timedelta(hours=1))}
    assert decide(marks, T0, WEEK)["kind"] == "CLICK"
    assert decide(marks, T0, WEEK)["triggerId"] == "t-click"


def test_a_view_counts_when_there_is_no_click_in_the_window():
    marks = {"click": mark("t-click", T0 - timedelta(days=8)),
             "view": mark("t-view", T0 - timedelta(days=6))}
    assert decide(marks, T0, WEEK) | {} == {"triggerId": "t-view", "ruleId": "r1",
                                            "type": "ABANDONED_CART", "kind": "VIEW",
                                            "at": T0 - timedelta(days=6),
                                            "firedAt": T0 - timedelta(days=6)}


def test_nothing_is_attributed_outside_the_window_or_before_the_trigger():
    assert decide({"view": mark("t", T0 - timedelta(seconds=WEEK + 1))}, T0, WEEK) is None
    assert decide({"view": mark("t", T0 + timedelta(seconds=1))}, T0, WEEK) is None
    assert decide(None, T0, WEEK) is None


def test_lift_has_an_interval_only_with_enough_data():
    big = lift_of(1600, 192, 400, 32)
    assert round(big.lift, 6) == 0.5
    assert big.low < 0.5 < big.high
    assert big.low > -0.05 and big.high < 1.4
    small = lift_of(10, 2, 3, 1)
    assert small.lift is not None and small.low is None and small.high is None
    none = lift_of(10, 2, 0, 0)
    assert none.holdout_conversion_rate is None and none.lift is None
