"""`python -m app rebuild-stats --shop N --from … --to …`: a shop's traffic rollups
rebuilt from its raw events (app/analytics/rebuild.py), on the storage the server uses
(TRACKER_MONGODB_URL, TRACKER_MONGODB_DB).

`--from` and `--to` are ISO dates or date-times, UTC unless they say otherwise; the
range is [from, to) and the whole UTC days covering it are rebuilt. A progress bar is
drawn on stderr when it is a terminal; a line says what was done when it ends.

A day older than the shop's anonymous history window (`anonymousHistoryDays`) may have
lost its anonymous events to retention while their counts stay in the rollups: a
rebuild would drop those counts, so such a range is refused unless `--include-expired`.
So is a day whose events expire within EXPIRING (a day) from now: retention (MongoDB's
TTL index, any minute) could delete them between the day's first fold and its reset.

Exit status: 0 done, 1 refused (another rebuild of the shop holds its lease, a day
stayed claimed by another folder, or a day past the retention window), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from app import analytics
from app.core import BadInput, Clock
from app.platform import open_store
from app.settings import Settings
from app.shops import ShopSettings

BAR_WIDTH = 30
EXPIRING = timedelta(days=1)  # days whose anonymous events expire this soon are refused too


def when(text: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC when it names no offset)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(prog="python -m app rebuild-stats", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    out.add_argument("--shop", type=int, required=True, help="the shop id")
    out.add_argument("--from", dest="start", type=when, required=True,
                     help="start of the range (ISO date or date-time, UTC)")
    out.add_argument("--to", dest="end", type=when, required=True,
                     help="end of the range, excluded (ISO date or date-time, UTC)")
    out.add_argument("--grace", type=float, default=analytics.REBUILD_GRACE,
                     help="seconds to wait for folders that read the leases before this "
                          "run's (default %(default)s; 0 when no worker is running)")
    out.add_argument("--include-expired", action="store_true",
                     help="rebuild days older than the shop's anonymous history window too "
                          "(the counts of anonymous events retention deleted are lost)")
    return out


class Bar:
    """Days done, drawn over itself on a terminal; nothing elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.drawn = stream, False

    def __call__(self, done: int, total: int) -> None:
        if not self.stream.isatty():
            return
        full = BAR_WIDTH * done // total
        self.stream.write(f"\r[{'#' * full}{'.' * (BAR_WIDTH - full)}] {done}/{total} days")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


async def run(args: argparse.Namespace, storage: Any, clock: Clock,
              out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The command on this storage; its exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        days = analytics.days_of(args.start, args.end)
    except BadInput as error:
        err.write(f"rebuild-stats: {error}\n")
        return 2
    kept_from = await retained_from(storage, args.shop, clock.now())
    if kept_from is not None and days[0] < kept_from + EXPIRING and not args.include_expired:
        err.write(f"rebuild-stats: shop {args.shop} keeps anonymous events from "
                  f"{kept_from:%Y-%m-%d %H:%M} UTC only, and the next day's expire before "
                  f"{kept_from + EXPIRING:%Y-%m-%d %H:%M} UTC: a rebuild of days starting "
                  "before then would drop the counts of those retention deletes "
                  "(--include-expired to do it anyway)\n")
        return 1
    bar = Bar(err)
    try:
        counted = await analytics.rebuild(storage, args.shop, args.start, args.end, clock,
                                          progress=bar, grace=args.grace)
    except (analytics.LeaseBusy, analytics.StillClaimed) as error:
        bar.close()
        err.write(f"rebuild-stats: {error}\n")
        return 1
    bar.close()
    out.write(f"shop {args.shop}: {len(days)} days rebuilt ({days[0]:%Y-%m-%d} to "
              f"{days[-1]:%Y-%m-%d}), {counted} events counted\n")
    return 0


async def retained_from(storage: Any, shop_id: int, now: datetime) -> datetime | None:
    """Since when the shop's anonymous events are all kept (retention deletes older ones)."""
    doc = await storage.shops.find_one({"_id": shop_id}, {"settings": 1})
    if doc is None:
        return None
    return now - timedelta(days=ShopSettings.from_doc(doc.get("settings") or {})
                           .anonymous_history_days)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    settings = Settings.from_env()
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    try:
        return asyncio.run(run(args, storage, Clock()))
    finally:
        storage.close()
