"""What the workers log when one shop's folding fails: its batch once, with the traceback.

The fold logs the failed batch (app/backends/folds.py) and goes on with the other shops;
the exception it raises at the end names the shops left alone. The worker's own line
then names them, without a second copy of the same traceback.
"""

from __future__ import annotations

import logging

import pytest

from app import tracking
from app.core.events import Context, EventInput, EventType
from app.platform import Platform
from app.server.workers import Workers
from tests.support.faults import refuse_apply_for_shop
from tests.support.live import eventually


async def test_a_shop_whose_counting_fails_is_logged_once_per_run_with_its_traceback(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for shop_id in (1, 2):
        await platform.shops.create(f"Shop {shop_id}", shop_id=shop_id)
        await tracking.track(platform, [EventInput(
            type=EventType.PRODUCT_VIEW, category_id="c1", product_id="p1",
            context=Context(shop_id=shop_id, visitor_id="v1", event_id="e1"))])
    refuse_apply_for_shop(monkeypatch, 2)
    workers = Workers(platform)
    with caplog.at_level(logging.WARNING):
        workers.start()
        try:
            await eventually(lambda: any(
                r.name == "tracker.workers" and "traffic rollups" in r.getMessage()
                for r in caplog.records), "the worker's run ended")
        finally:
            await workers.stop()
    told = [r for r in caplog.records if "too large" in (r.exc_text or "")
            or (r.exc_info and "too large" in str(r.exc_info[1]))]
    batches = [r for r in caplog.records if r.getMessage().startswith("folding ")]
    assert len(batches) >= 1
    assert len(told) == len(batches)  # the batch's traceback, and no second one
    worker = [r.getMessage() for r in caplog.records
              if r.name == "tracker.workers" and "traffic rollups" in r.getMessage()]
    assert worker and all("shops [2]" in line for line in worker)
    # Still an error: a shop whose counting keeps failing keeps its events uncounted.
    assert {r.levelno for r in caplog.records if r.name == "tracker.workers"} == {logging.ERROR}
