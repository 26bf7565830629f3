"""Every figure of the dashboard, from the rollups and recounted from the raw events.

The reports read rollups (app/analytics/reports.py); app/analytics/recount.py is the
reference: the old aggregations over the raw events. `rollups_differ_from_recount`
folds what is pending (the performance rollups first, whose shop-wide buckets give
sessions and triggers per hour, as resolvers/analytics.py does; the reports fold the
events themselves) and asks both, for each range, for stats by HOUR and by DAY, the top
products and categories (as many as a page holds) and the funnel; it returns what
differs, and `assert_rollups_equal_recount` fails on it.

The recount's funnel counts a session's steps taken inside the range, the rollups'
whenever they were taken: a range must end after the scenario's last event for the
two to agree (a dashboard's range ends now).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app import analytics, attribution
from app.analytics.ranges import DAY, HOUR, MAX_LIMIT
from app.platform import Platform

Range = tuple[datetime, datetime]


async def reports(module: Any, platform: Platform, shop_id: int, within: Range,
                  *now: datetime) -> dict[str, Any]:
    """The four reports of `module` (app.analytics, or app.analytics.recount) for a range."""
    storage, span = platform.storage, analytics.span(*within)
    return {
        "stats by hour": await module.stats(storage, shop_id,
                                            analytics.buckets(*within, HOUR), *now),
        "stats by day": await module.stats(storage, shop_id,
                                           analytics.buckets(*within, DAY), *now),
        "top products": await module.top_products(storage, shop_id, span, MAX_LIMIT, *now),
        "top categories": await module.top_categories(storage, shop_id, span, MAX_LIMIT,
                                                      *now),
        "funnel": await module.funnel(storage, shop_id, span, *now),
    }


async def rollup_reports(platform: Platform, shop_id: int, within: Range) -> dict[str, Any]:
    """What the dashboard shows for a range: the performance rollups folded, then the
    reports (which fold the events)."""
    now = platform.clock.now()
    await attribution.fold(platform.storage, now, shop_id)
    return await reports(analytics, platform, shop_id, within, now)


async def rollups_differ_from_recount(platform: Platform, shop_id: int,
                                      ranges: list[Range]) -> list[str]:
    """For each range and report, the rollups' answer where it is not the recount's."""
    differences = []
    for within in ranges:
        rolled = await rollup_reports(platform, shop_id, within)
        recounted = await reports(analytics.recount, platform, shop_id, within)
        for name, answer in rolled.items():
            if answer != recounted[name]:
                differences.append(f"{name} {within[0]:%m-%d %H:%M}..{within[1]:%m-%d %H:%M}:"
                                   f"\n  rollups {answer}\n  recount {recounted[name]}")
    return differences


async def assert_rollups_equal_recount(platform: Platform, shop_id: int,
                                       ranges: list[Range]) -> None:
    differences = await rollups_differ_from_recount(platform, shop_id, ranges)
    assert not differences, "\n".join(differences)
