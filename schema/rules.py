"""GraphQL types of trigger rules (CONTRACT.md section 7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.core import utc
from app.triggers import Rule, RuleSet
from schema.triggers import TriggerType


@strawberry.type
class TriggerRule:
    rule_id: strawberry.ID
    type: TriggerType
    title: str | None
    enabled: bool
    match: list[str]
    delay_seconds: int | None = strawberry.field(
        description="Quiet time before an abandonment rule fires; null for the other types. "
        "The default ABANDONED_CART rule's is the shop's abandonedCartDelaySeconds.")
    cap_seconds: int
    created_at: datetime
    holdout_percent: int = strawberry.field(
        default=0, description="Customers (in %) left out of this rule's triggers.")

    @classmethod
    def of(cls, rule: Rule, ruleset: RuleSet) -> TriggerRule:
        return cls(rule_id=strawberry.ID(rule.rule_id), type=TriggerType(rule.type),
                   title=rule.title, enabled=rule.enabled, match=list(rule.match),
                   delay_seconds=ruleset.delay_of(rule), cap_seconds=rule.cap_seconds,
                   created_at=utc(rule.created_at), holdout_percent=rule.holdout_percent)


@strawberry.input
class TriggerRuleInput:
    type: TriggerType
    title: str | None = None
    enabled: bool | None = None
    match: list[str] | None = strawberry.field(
        default=None, description="SECTION_VISITED: page names; CUSTOM_EVENT: event names; "
        "ABANDONED_BROWSE / ABANDONED_CATEGORY: category ids; empty or null = any.")
    delay_seconds: int | None = None
    cap_seconds: int | None = strawberry.field(
        default=None, description="At most one trigger of this rule per customer (or "
        "visitor) in this many seconds; 0 = no cap.")
    holdout_percent: int | None = strawberry.field(
        default=None, description="0..90: customers left out of this rule's triggers, to "
        "measure lift; fixed per (rule, customer).")

    def given(self) -> dict[str, Any]:
        """The fields given, by the domain's names (None = not given)."""
        return {"type": self.type.value, "title": self.title, "enabled": self.enabled,
                "match": self.match, "delay_seconds": self.delay_seconds,
                "cap_seconds": self.cap_seconds, "holdout_percent": self.holdout_percent}
