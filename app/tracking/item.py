"""One event on its way through the pipeline, and what the caller gets back.

These types sit apart from the pipeline so that the steps it calls (sessions,
session documents, effects) can name them without importing the pipeline back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core import EventInput, TrackerError
from app.shops import Shop


@dataclass
class TrackResult:
    event_id: str
    duplicate: bool
    session_id: str
    new_session: bool
    user_id: str | None


@dataclass
class Outcome:
    """What became of one input: a result, an error, or both (stored, but the token was bad)."""

    result: TrackResult | None = None
    error: TrackerError | None = None


@dataclass
class Item:
    """One event on its way through the pipeline, with what the steps found out."""

    index: int
    event: EventInput
    shop: Shop
    source_id: str
    at: datetime
    links_to: str | None = None
    user_id: str | None = None
    session_id: str = ""
    new_session: bool = False
    duplicate: bool = False
    replay: bool = False  # a duplicate whose effects may not all have been applied
    user_before: str | None = None  # the visitor's customer just before this event
    doc: dict[str, Any] = field(default_factory=dict)
