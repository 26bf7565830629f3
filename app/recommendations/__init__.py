"""Recommendations: co-occurrence kept as events arrive, and the four strategies.

- pairs.py: products viewed in the same session and bought in the same order, kept per
  product as forward-decayed counts, bounded to the top pairs (design and invariants
  there); the session's window of views lives on the visitor document.
- store.py: their writes (one round trip per batch) and reads (one each).
- strategies.py: ALSO_VIEWED, ALSO_BOUGHT, FOR_YOU, POPULAR and the rules every answer
  keeps (CONTRACT.md section 13).
- fold.py: the worker that folds marked product views into co-occurrence.
- attach.py: the recommendations a trigger carries.
- products.py: the catalog data they are filled with.
"""

from app.recommendations.attach import TRIGGER_LIMIT, attach
from app.recommendations.fold import fold, fold_all, fold_backlog
from app.recommendations.pairs import (
    BOUGHT,
    VIEWED,
    WINDOW,
    View,
    order_touches,
    remembered,
    session_partners,
    session_touches,
    window_update,
)
from app.recommendations.products import public
from app.recommendations.store import forget_popular, write
from app.recommendations.strategies import MAX_LIMIT, STRATEGIES, Ask, recommend

__all__ = [
    "BOUGHT", "MAX_LIMIT", "STRATEGIES", "TRIGGER_LIMIT", "VIEWED", "WINDOW", "Ask", "View",
    "attach", "fold", "fold_all", "fold_backlog", "forget_popular", "order_touches", "public",
    "recommend", "remembered",
    "session_partners", "session_touches", "window_update", "write",
]
