"""Did the triggers pay: session channels, order attribution, holdouts, performance.

Invariants (CONTRACT.md section 12; docs/attribution.md):
- a session's channel is decided once, from its first event (channels.py);
- an order's attribution is decided once, when the order is first stored, from the
  customer's marks (decide.py): it is stored with the order and never re-derived;
- a holdout draw is a fixed hash of (rule, customer) (app/holdout.py, on the triggers' side);
- reports read rollups (rollups.py), never orders or sessions.
"""

from app.attribution.channels import CHANNELS, Source, classify, link, link_trigger_id
from app.attribution.decide import decide
from app.attribution.lift import Lift, lift_of

__all__ = ["CHANNELS", "Lift", "Source", "classify", "decide", "lift_of", "link",
           "link_trigger_id"]
