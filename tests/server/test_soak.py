"""The soak in small: a real server, tracker traffic from several processes for 10 s.

Every event the server acknowledged must be stored, exactly once, and nothing
may fail. The rate is modest (200 events/s) so that the run says nothing about
speed: `python -m bench.soak --rate 1000 --seconds 60` is the measurement.
"""

from __future__ import annotations

from pathlib import Path

from bench.soak import soak


def test_soak_stores_every_acknowledged_event(tmp_path: Path) -> None:
    summary = soak(rate=200, seconds=10, clients=2, visitors=100, batch=10,
                   log_path=tmp_path / "server.log")
    print("\n" + summary.text())
    assert summary.errors == 0, summary.text()
    assert summary.server_tracebacks == 0, (tmp_path / "server.log").read_text()[-5000:]
    assert summary.sent > 0
    assert summary.acknowledged == summary.sent, summary.text()
    assert summary.stored == summary.acknowledged, summary.text()
    assert summary.missing == 0 and summary.unacknowledged_stored == 0, summary.text()
    assert summary.duplicates == 0, summary.text()
