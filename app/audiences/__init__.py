"""Live interest audiences: their definitions, the membership each interaction
re-evaluates, and the worker that fills new audiences and computes exits by due time.
"""

from app.audiences.definitions import create, delete, listed, members, reschedule_exits
from app.audiences.membership import after_interests
from app.audiences.worker import tick

__all__ = [
    "after_interests",
    "create",
    "delete",
    "listed",
    "members",
    "reschedule_exits",
    "tick",
]
