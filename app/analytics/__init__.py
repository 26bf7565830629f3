"""What the dashboard reads: the reports (stats, top products and categories, funnel)
and the reads of customers, visitors, sessions, carts and orders (`reading`); the
project's one HyperLogLog of distinct visitors (`sketch`: HLL_BITS, register, estimate, merge).
"""

from app.analytics import reading, sketch
from app.analytics.reports import buckets, funnel, span, stats, top_categories, top_products
from app.analytics.sketch import HLL_BITS, estimate, merge, register

__all__ = [
    "HLL_BITS",
    "buckets",
    "estimate",
    "funnel",
    "merge",
    "reading",
    "register",
    "sketch",
    "span",
    "stats",
    "top_categories",
    "top_products",
]
