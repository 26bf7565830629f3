"""Triggers: the trigger model and its log (outbox, published to the broker, replayed
by the feed), the shop's trigger rules, their store, and the caps that limit how often a
customer gets one.
"""

from app.triggers import caps, fanout
from app.triggers.fanout import FanOut
from app.triggers.feed import TriggerFeed
from app.triggers.holdout import held_out
from app.triggers.model import (
    ABANDONED_BROWSE,
    ABANDONED_CART,
    ABANDONED_CATEGORY,
    AUDIENCE_ENTERED,
    AUDIENCE_EXITED,
    BACK_IN_STOCK,
    CUSTOM_EVENT,
    ORDER_COMPLETED,
    POSITION,
    PRICE_DROPPED,
    SECTION_VISITED,
    TYPES,
    channel,
    decode,
    encode,
    make,
    position,
)
from app.triggers.outbox import Outbox
from app.triggers.rule_store import Rules
from app.triggers.rules import Rule, RuleSet, with_rule

__all__ = [
    "ABANDONED_BROWSE",
    "ABANDONED_CART",
    "ABANDONED_CATEGORY",
    "AUDIENCE_ENTERED",
    "AUDIENCE_EXITED",
    "BACK_IN_STOCK",
    "CUSTOM_EVENT",
    "ORDER_COMPLETED",
    "POSITION",
    "PRICE_DROPPED",
    "SECTION_VISITED",
    "TYPES",
    "FanOut",
    "Outbox",
    "Rule",
    "RuleSet",
    "Rules",
    "TriggerFeed",
    "caps",
    "channel",
    "decode",
    "encode",
    "fanout",
    "held_out",
    "make",
    "position",
    "with_rule",
]
