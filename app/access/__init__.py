"""Who may call what: API keys to principals (auth) and the rate limits per key and per IP (limits).
"""

from app.access.auth import Keys, Principal
from app.access.limits import Limiter

__all__ = [
    "Keys",
    "Limiter",
    "Principal",
]
