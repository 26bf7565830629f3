"""Who may call what: API keys to principals (auth), the rate limits per key and per IP
(limits), and the WebSocket connections and subscriptions a key may hold (streams).
"""

from app.access.auth import Keys, Principal
from app.access.limits import Limiter
from app.access.streams import Streams

__all__ = [
    "Keys",
    "Limiter",
    "Principal",
    "Streams",
]
