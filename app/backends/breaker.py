"""A circuit breaker for calls on the request path to a backend that may hang.

A hung Redis (a frozen process, a dead host behind an open connection) answers
nothing: every call waits for its timeout. After one such failure the breaker
opens and calls skip the backend for `cooldown` seconds; the first call after
that tries again, and a success closes it. So a hang costs one timeout per
process per cooldown, not one per request.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

log = logging.getLogger("tracker.backends")


class CircuitBreaker:
    def __init__(self, name: str, cooldown: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.cooldown = cooldown
        self.clock = clock
        self.open_until = -math.inf
        # What happened, for logs, metrics and tests.
        self.attempts = 0  # calls let through to the backend
        self.failures = 0  # of those, failed (and opened the breaker)
        self.skipped = 0  # calls that did not try, the breaker being open

    @property
    def closed(self) -> bool:
        return self.clock() >= self.open_until

    def allow(self) -> bool:
        """Whether to call the backend now; counts the call either way."""
        if self.closed:
            self.attempts += 1
            return True
        self.skipped += 1
        return False

    def failed(self, error: BaseException) -> None:
        if self.closed:
            log.warning("%s unavailable (%s); skipped for %gs", self.name,
                        error or type(error).__name__, self.cooldown)
        self.failures += 1
        self.open_until = self.clock() + self.cooldown

    def succeeded(self) -> None:
        if self.open_until != -math.inf:
            self.open_until = -math.inf
            log.info("%s available again", self.name)
