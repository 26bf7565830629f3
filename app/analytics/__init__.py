"""What the dashboard reads: the reports (stats, top products and categories, funnel)
and the reads of customers, visitors, sessions, carts and orders (`reading`).
"""

from app.analytics import reading
from app.analytics.reports import buckets, funnel, span, stats, top_categories, top_products

__all__ = [
    "buckets",
    "funnel",
    "reading",
    "span",
    "stats",
    "top_categories",
    "top_products",
]
