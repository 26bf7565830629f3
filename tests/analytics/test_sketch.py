"""The HyperLogLog of distinct visitors (app/analytics/sketch.py): its error measured,
merging, repeating. Ids are deterministic, so every figure here is the same on every run."""

from __future__ import annotations

import pytest

import app.analytics as analytics
from app.analytics.sketch import HLL_BITS, add, estimate, merge, register
from app.attribution import contributions


def sketch_of(ids: range, seed: int) -> dict[str, int]:
    registers: dict[str, int] = {}
    for i in ids:
        add(registers, f"visitor-{seed}-{i}")
    return registers


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("visitors", [1_000, 10_000, 100_000])
def test_the_estimate_is_within_two_percent_of_the_distinct_visitors(visitors, seed):
    estimated = estimate(sketch_of(range(visitors), seed))
    assert abs(estimated - visitors) <= 0.02 * visitors, estimated


def test_a_handful_of_visitors_is_counted_exactly():
    for visitors in (1, 2, 10, 100):
        assert estimate(sketch_of(range(visitors), 7)) == visitors


def test_an_empty_sketch_counts_nobody():
    assert estimate({}) == 0


def test_merging_two_sketches_equals_the_sketch_of_the_union():
    first, second = sketch_of(range(0, 6_000), 4), sketch_of(range(4_000, 12_000), 4)
    union = sketch_of(range(0, 12_000), 4)
    assert merge([first, second]) == union
    assert merge([second, first]) == union
    assert estimate(merge([first, second])) == estimate(union)


def test_adding_a_visitor_twice_changes_nothing():
    registers = sketch_of(range(500), 5)
    before = dict(registers)
    for i in range(500):
        add(registers, f"visitor-5-{i}")
    assert registers == before


def test_a_register_is_an_index_below_two_to_the_bits_and_a_positive_rank():
    for i in range(1_000):
        index, rank = register(f"v{i}")
        assert 0 <= index < 1 << HLL_BITS
        assert 1 <= rank <= 64 - HLL_BITS + 1
    assert register("same") == register("same")


def test_attribution_counts_visitors_with_the_analytics_sketch():
    assert contributions.register is analytics.register
    assert analytics.HLL_BITS == HLL_BITS == 14
