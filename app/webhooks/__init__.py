"""Webhooks (Standard Webhooks): endpoints, the deliveries queued per (trigger,
endpoint), the sender that leases and attempts them, and the HTTP transport that
connects only through the address check.
"""

from app.webhooks import deliveries
from app.webhooks.endpoints import Webhooks
from app.webhooks.sender import Sender

__all__ = [
    "Sender",
    "Webhooks",
    "deliveries",
]
