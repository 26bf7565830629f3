"""Lift of a rule over its holdout, and its 95% interval.

    conversionRate         = treated customers who ordered / treated customers
    holdoutConversionRate  = the same over held-out customers
    lift                   = conversionRate / holdoutConversionRate - 1

The interval is the usual one for a ratio of two proportions (Katz's log method):
ln(RR) +- 1.96 x sqrt(1/a - 1/n1 + 1/b - 1/n0), with a, b the customers who
ordered among n1 treated and n0 held out; lift's interval is exp(.) - 1. It is
given only where the normal approximation holds: at least MIN_EVENTS customers
who ordered and MIN_EVENTS who did not in each group. Elsewhere the answer is
"not enough data" (None).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
MIN_EVENTS = 5


@dataclass(frozen=True)
class Lift:
    conversion_rate: float
    holdout_conversion_rate: float | None
    lift: float | None
    low: float | None  # the 95% interval, None without enough data
    high: float | None


def rate(converted: int, customers: int) -> float | None:
    return converted / customers if customers > 0 else None


def lift_of(treated: int, treated_converted: int, held: int, held_converted: int) -> Lift:
    p1 = rate(treated_converted, treated) or 0.0
    p0 = rate(held_converted, held)
    value = p1 / p0 - 1 if p0 else None
    low = high = None
    if value is not None and enough(treated, treated_converted) and enough(held, held_converted):
        spread = Z95 * math.sqrt(1 / treated_converted - 1 / treated
                                 + 1 / held_converted - 1 / held)
        center = math.log(p1 / p0)
        low, high = math.exp(center - spread) - 1, math.exp(center + spread) - 1
    return Lift(p1, p0, value, low, high)


def enough(customers: int, converted: int) -> bool:
    return converted >= MIN_EVENTS and customers - converted >= MIN_EVENTS
