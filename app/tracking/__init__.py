"""Tracking: one path for every event, whichever door it came in by.

    validate -> resolve shop and source -> resolve visitor (and its customer)
    -> sessionize -> store event (idempotent) -> apply effects -> emit triggers

`Item`, `Outcome` and `TrackResult` live in `item` so that the steps can name them
without importing the pipeline back.
"""

from app.tracking.item import Item, Outcome, TrackResult
from app.tracking.pipeline import PLAIN_TYPES, has_effects, track

__all__ = [
    "PLAIN_TYPES",
    "Item",
    "Outcome",
    "TrackResult",
    "has_effects",
    "track",
]
