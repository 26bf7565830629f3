"""Recommendation tests read what the fold worker wrote: `shopping.folded()` runs it on the
test's platform first, as the worker would have within a second."""

from __future__ import annotations

import pytest

from tests.recommendations import shopping


@pytest.fixture(autouse=True)
def _fold_on(request: pytest.FixtureRequest) -> None:
    if "platform" in request.fixturenames:
        shopping.PLATFORM = request.getfixturevalue("platform")
    else:
        shopping.PLATFORM = None
