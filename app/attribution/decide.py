"""An order's attribution, decided once from what is known when the order is stored.

What is known is the customer's marks (orders.py `marks_at`): the latest
session opened through a trigger link (`click`) and the latest delivered trigger
(`view`). Only the latest of each matters: the contract picks the latest click
in the window, else the latest delivered trigger in the window, and an earlier
one is inside the window only if the latest is. Held-out triggers never become
a `view` mark, so an order after only a held-out trigger has no attribution.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.core import utc

CLICK = "CLICK"
VIEW = "VIEW"


def _inside(mark: dict[str, Any] | None, at: datetime, window: timedelta) -> bool:
    if not mark or mark.get("at") is None:
        return False
    when = utc(mark["at"])
    return at - window <= when <= at


def decide(marks: dict[str, Any] | None, at: datetime, window_seconds: int
           ) -> dict[str, Any] | None:
    """`Attribution` of an order placed at `at`, or None."""
    marks = marks or {}
    window = timedelta(seconds=window_seconds)
    for kind, name in ((CLICK, "click"), (VIEW, "view")):
        mark = marks.get(name)
        if _inside(mark, utc(at), window):
            return {"triggerId": mark["triggerId"], "ruleId": mark.get("ruleId"),
                    "type": mark["type"], "kind": kind, "at": mark["at"],
                    "firedAt": mark.get("firedAt", mark["at"])}
    return None
