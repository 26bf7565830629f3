"""Did the triggers pay: session channels, order attribution, performance rollups.

Invariants (CONTRACT.md section 12; docs/attribution.md):
- a session's channel is decided once, from its first event (channels.py, touches.py);
- an order's attribution is decided once, when the order is first stored, from the
  customer's latest trigger click and delivered trigger (orders.py, decide.py): it is
  part of the order's insert and never re-derived;
- a holdout draw is a fixed hash of (rule, customer) (app/triggers/holdout.py, on the
  triggers' side, where triggers are made);
- reports read hourly rollups (rollups.py, contributions.py, reports.py), never orders
  or sessions; each fact is counted exactly once, under retries and several processes.
"""

from app.attribution.channels import CHANNELS, Source, classify, link, link_trigger_id
from app.attribution.decide import decide
from app.attribution.lift import Lift, lift_of
from app.attribution.orders import existing as existing_order
from app.attribution.orders import facts as order_facts
from app.attribution.orders import order_key_of, revenue_of
from app.attribution.reports import channels as channel_stats
from app.attribution.reports import trigger_performance
from app.attribution.rollups import fold
from app.attribution.shop_orders import upsert_orders
from app.attribution.touches import edge_touch, own_domains, source_of, touch

__all__ = ["CHANNELS", "Lift", "Source", "channel_stats", "classify", "decide", "edge_touch",
           "existing_order", "fold", "lift_of", "link", "link_trigger_id", "order_facts",
           "order_key_of", "own_domains", "revenue_of", "source_of", "touch",
           "trigger_performance", "upsert_orders"]
