"""The vocabulary every package shares: time, errors, deterministic keys, base64url,
a small LRU, and the tracked event types.

Nothing here does I/O or knows about a shop; every other domain package may import it.
"""

from app.core import b64
from app.core.clock import Clock, correct_skew, from_ms, to_ms, utc
from app.core.errors import (
    BadInput,
    Forbidden,
    NotFound,
    RateLimited,
    TrackerError,
    Unauthenticated,
    http_status,
)
from app.core.events import (
    CO_PENDING,
    IDENTIFY_TYPES,
    MAX_BATCH,
    PENDING_EXPIRY,
    Context,
    EventInput,
    EventType,
    validate,
)
from app.core.keys import (
    cart_key,
    customer_key,
    event_key,
    interest_key,
    order_key,
    owner_of,
    session_id_for,
    session_key,
    start_ms_of,
    visitor_key,
)
from app.core.lru import LRU

__all__ = [
    "CO_PENDING",
    "IDENTIFY_TYPES",
    "LRU",
    "MAX_BATCH",
    "PENDING_EXPIRY",
    "BadInput",
    "Clock",
    "Context",
    "EventInput",
    "EventType",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "TrackerError",
    "Unauthenticated",
    "b64",
    "cart_key",
    "correct_skew",
    "customer_key",
    "event_key",
    "from_ms",
    "http_status",
    "interest_key",
    "order_key",
    "owner_of",
    "session_id_for",
    "session_key",
    "start_ms_of",
    "to_ms",
    "utc",
    "validate",
    "visitor_key",
]
