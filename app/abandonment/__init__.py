"""Abandoned carts, browses and category views: what a session watched (`watch`),
kept with the writes the pipeline makes anyway, and the two workers that fire what is due.
"""

from app.abandonment.browse_worker import due_query as session_due_query
from app.abandonment.browse_worker import fire_due_sessions
from app.abandonment.cart_worker import due_query as cart_due_query
from app.abandonment.cart_worker import fire_due
from app.abandonment.watch import MAX_VIEWS, WATCHED, Watch, carried, due_stage, visitor_fields

__all__ = [
    "MAX_VIEWS",
    "WATCHED",
    "Watch",
    "carried",
    "cart_due_query",
    "due_stage",
    "fire_due",
    "fire_due_sessions",
    "session_due_query",
    "visitor_fields",
]
