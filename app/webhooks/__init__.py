"""Webhooks (Standard Webhooks): endpoints, the deliveries queued per (trigger,
endpoint), the sender that leases and attempts them, and the HTTP transport that
connects only through the address check.
"""

from app.webhooks import deliveries
from app.webhooks.endpoints import Webhooks
from app.webhooks.sender import Sender
from app.webhooks.sender import due as due_deliveries

__all__ = [
    "Sender",
    "Webhooks",
    "deliveries",
    "due_deliveries",
]
