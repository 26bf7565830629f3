"""Tracker mutations: every one is the pipeline on a batch of one or more events."""

from __future__ import annotations

from datetime import datetime

from strawberry.types import Info

from app import pipeline
from app.errors import BadInput
from app.events import MAX_BATCH, EventInput
from schema import types
from schema.inputs import TrackInput


def _result(outcome: pipeline.Outcome) -> types.TrackResult | Exception:
    if outcome.error is not None:
        return outcome.error
    r = outcome.result
    assert r is not None
    return types.TrackResult(event_id=r.event_id, duplicate=r.duplicate, session_id=r.session_id,
                             new_session=r.new_session, user_id=r.user_id)


async def track_one(info: Info, event: EventInput) -> types.TrackResult:
    ctx = info.context
    await ctx.limit_tracker([event])
    [outcome] = await pipeline.track(ctx.platform, [event], origin=ctx.origin)
    result = _result(outcome)
    if isinstance(result, Exception):
        raise result
    return result


async def track_batch(
    info: Info, events: list[TrackInput], sent_at: datetime | None
) -> list[types.TrackResult | None]:
    ctx = info.context
    if len(events) > MAX_BATCH:  # refused as too big before it costs rate-limit tokens
        raise BadInput(f"a batch holds at most {MAX_BATCH} events", field="events")
    inputs = [e.to_domain() for e in events]
    await ctx.limit_tracker(inputs)
    outcomes = await pipeline.track(ctx.platform, inputs, sent_at=sent_at, origin=ctx.origin)
    # An exception in the list becomes null at its index with an error at that path.
    return [_result(o) for o in outcomes]  # type: ignore[misc]


async def import_events(
    info: Info, shop_id: int, events: list[TrackInput]
) -> list[types.TrackResult | None]:
    ctx = info.context
    await ctx.for_shop(shop_id)
    inputs = [e.to_domain() for e in events]
    for event in inputs:
        event.context.shop_id = shop_id
    outcomes = await pipeline.track(ctx.platform, inputs, importing=True)
    return [_result(o) for o in outcomes]  # type: ignore[misc]
