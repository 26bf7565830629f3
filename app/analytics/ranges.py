"""Ranges a report answers: [from, to) in UTC, cut into hours or days, and their checks.

Buckets start on whole UTC hours or days; the first starts at `from` truncated to
the hour or day, and counts only what is at or after `from`. A range is at most
MAX_SPAN wide and has at most MAX_BUCKETS buckets: BAD_INPUT past either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.core import BadInput, utc

HOUR, DAY = "HOUR", "DAY"
STEPS = {HOUR: timedelta(hours=1), DAY: timedelta(days=1)}
MAX_BUCKETS = {HOUR: 744, DAY: 366}  # a month of hours, a leap year of days
MAX_SPAN = timedelta(days=366)  # the widest range of the top lists and the funnel
MAX_LIMIT = 100

PRODUCT_VIEW, CATEGORY_VIEW = "PRODUCT_VIEW", "CATEGORY_VIEW"
CART_ADD, CHECKOUT = "CART_ADD", "CHECKOUT"
COUNTED = {"productViews": PRODUCT_VIEW, "categoryViews": CATEGORY_VIEW,
           "cartAdds": CART_ADD, "checkouts": CHECKOUT}
FIGURES = ("visitors", "sessions", "identifiedVisitors", *COUNTED, "triggers")


@dataclass(frozen=True)
class Span:
    """A range of time [start, end), in UTC."""

    start: datetime
    end: datetime

    def match(self, field: str) -> dict[str, Any]:
        return {field: {"$gte": _naive(self.start), "$lt": _naive(self.end)}}


@dataclass(frozen=True)
class Buckets:
    """A span cut into hours or days; bucket i starts at origin + i * step."""

    span: Span
    origin: datetime
    step: timedelta
    count: int

    def starts(self) -> list[datetime]:
        return [self.origin + i * self.step for i in range(self.count)]

    def index_of(self, field: str) -> dict[str, Any]:
        """The bucket number of a date field, as an aggregation expression."""
        step_ms = int(self.step.total_seconds() * 1000)
        return {"$floor": {"$divide": [{"$subtract": [f"${field}", _naive(self.origin)]},
                                       step_ms]}}


def _naive(value: datetime) -> datetime:
    """A UTC time as stored: both stores read a naive datetime in a pipeline as UTC."""
    return value.replace(tzinfo=None)


def _utc(value: datetime, name: str) -> datetime:
    try:
        return utc(value)
    except OverflowError:  # an offset at the calendar's edge, e.g. 0001-01-01T00:00+01:00
        raise BadInput(f"{name} is out of range", field=name) from None


def span(start: datetime, end: datetime) -> Span:
    """The range [from, to), checked: from before to, and at most MAX_SPAN wide."""
    start, end = _utc(start, "from"), _utc(end, "to")
    if start >= end:
        raise BadInput("from must be before to", field="from")
    if end - start > MAX_SPAN:
        raise BadInput(f"the range is wider than {MAX_SPAN.days} days", field="to")
    return Span(start, end)


def buckets(start: datetime, end: datetime, interval: str) -> Buckets:
    """The range cut into UTC hours or days; BAD_INPUT past MAX_BUCKETS of them."""
    if interval not in STEPS:
        raise BadInput("interval must be HOUR or DAY", field="interval")
    start, end = _utc(start, "from"), _utc(end, "to")
    if start >= end:
        raise BadInput("from must be before to", field="from")
    origin = start.replace(minute=0, second=0, microsecond=0)
    if interval == DAY:
        origin = origin.replace(hour=0)
    step = STEPS[interval]
    count = math.ceil((end - origin) / step)
    if count > MAX_BUCKETS[interval]:
        raise BadInput(f"at most {MAX_BUCKETS[interval]} {interval.lower()} buckets "
                       f"(this range has {count})", field="to")
    return Buckets(Span(start, end), origin, step, count)


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit must be from 1 to {MAX_LIMIT}", field="limit")
