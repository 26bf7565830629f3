"""What the dashboard reads: the reports (stats, top products and categories, funnel),
answered from rollups folded from the events (`rollups`, `reports`), the same reports
recounted from the raw events (`recount`: the reference, and the edges of a range), and
the reads of customers, visitors, sessions, carts and orders (`reading`); the project's
one HyperLogLog of distinct visitors (`sketch`: HLL_BITS, register, estimate, merge).
"""

from app.analytics import reading, recount, sketch
from app.analytics.ranges import buckets, span
from app.analytics.reports import funnel, stats, top_categories, top_products
from app.analytics.rollups import fold
from app.analytics.sketch import HLL_BITS, estimate, merge, register

__all__ = [
    "HLL_BITS",
    "buckets",
    "estimate",
    "fold",
    "funnel",
    "merge",
    "reading",
    "recount",
    "register",
    "sketch",
    "span",
    "stats",
    "top_categories",
    "top_products",
]
