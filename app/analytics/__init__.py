"""What the dashboard reads: the reports (stats, top products and categories, funnel),
answered from rollups folded from the events (`rollups`, `reports`), the same reports
recounted from the raw events (`recount`: the reference, and the edges of a range), and
the reads of customers, visitors, sessions, carts and orders (`reading`); the project's
one HyperLogLog of distinct visitors (`sketch`: HLL_BITS, register, estimate, merge);
a shop's rollups rebuilt from its raw events over a range of days (`rebuild`, under a
lease live folds respect: LeaseBusy when another rebuild holds it); the dense sketches of
busy hours and days written as they close (`keep_dense`, a worker every CLOSING_SECONDS).
"""

from app.analytics import reading, recount, sketch
from app.analytics.closing import CLOSING_SECONDS, keep_dense
from app.analytics.leases import LeaseBusy
from app.analytics.ranges import buckets, span
from app.analytics.rebuild import GRACE as REBUILD_GRACE
from app.analytics.rebuild import StillClaimed, days_of, rebuild
from app.analytics.reports import funnel, stats, top_categories, top_products
from app.analytics.rollups import PURCHASED_CATEGORY, PURCHASED_PRODUCT, fold, performance_id
from app.analytics.sketch import HLL_BITS, estimate, merge, register

__all__ = [
    "CLOSING_SECONDS",
    "HLL_BITS",
    "PURCHASED_CATEGORY",
    "PURCHASED_PRODUCT",
    "REBUILD_GRACE",
    "LeaseBusy",
    "StillClaimed",
    "buckets",
    "days_of",
    "estimate",
    "fold",
    "funnel",
    "keep_dense",
    "merge",
    "performance_id",
    "reading",
    "rebuild",
    "recount",
    "register",
    "sketch",
    "span",
    "stats",
    "top_categories",
    "top_products",
]
