"""Holdout groups: which customers a rule leaves out, fixed per (rule, customer).

`held_out(rule, customer, p)` is true for a share p/100 of customers: the first 8
bytes of SHA-256 over "<ruleId>\\0<customer>", modulo 10,000, below p x 100. The
same pair always gives the same answer, in every process and after a restart;
another rule draws its own holdout. A customer is the shop's user id once known,
else the anonymous visitor (app/core/keys.py owner_of). A held-out trigger is stored
with `heldOut: true` and `published: true` (the sweeper leaves it), and neither
published to subscriptions (app/triggers/outbox.py, feed.py) nor queued for webhooks.
"""

from __future__ import annotations

import hashlib

MAX_PERCENT = 90


def bucket(rule_id: str, customer: str) -> int:
    """0..9999, uniform over customers, fixed per (rule, customer)."""
    digest = hashlib.sha256(f"{rule_id}\0{customer}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def held_out(rule_id: str, customer: str, percent: int) -> bool:
    return percent > 0 and bucket(rule_id, customer) < percent * 100
