"""Trigger rules: the web triggers a shop sets up (CONTRACT.md section 7).

A trigger of the six rule types fires only through an enabled rule of its type
and carries that rule's id. A shop's rules live in one document of the
`triggerRules` collection (`_id` = the shop id), so that a rule's creation,
change or removal is one atomic write and the limit of MAX_RULES holds without
a race. A shop without that document (a new shop, or one from before rules
existed) gets the default rules the first time its rules are read: one upsert
with `$setOnInsert`, so processes that race create one set, with the same ids.

The default rules reproduce what every shop had before rules: one enabled rule
of each type, any name, no cap. The default ABANDONED_CART rule has no delay of
its own: its delay is the shop's `abandonedCartDelaySeconds`, read from the
shop, and setting the rule's delay sets that setting (app/triggers/rule_store.py).
Triggers fired through a default rule keep the ids they had before rules; a
trigger of any other rule has its rule id appended, so several rules matching
one event each fire their own trigger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core import BadInput, owner_of
from app.triggers.holdout import MAX_PERCENT, held_out
from app.triggers.model import (
    ABANDONED_BROWSE,
    ABANDONED_CART,
    ABANDONED_CATEGORY,
    CUSTOM_EVENT,
    ORDER_COMPLETED,
    SECTION_VISITED,
)

RULE_TYPES = (ABANDONED_CART, ABANDONED_BROWSE, ABANDONED_CATEGORY, SECTION_VISITED,
              CUSTOM_EVENT, ORDER_COMPLETED)
DELAY_TYPES = frozenset({ABANDONED_CART, ABANDONED_BROWSE, ABANDONED_CATEGORY})
# What `match` names, by type; the other types have nothing to match.
MATCHES = {SECTION_VISITED: "pageNames", CUSTOM_EVENT: "eventNames",
           ABANDONED_BROWSE: "categoryIds", ABANDONED_CATEGORY: "categoryIds"}
DEFAULT_DELAY = 1800  # a new browse or category rule's quiet time, as the defaults'
DEFAULT_TITLES = {
    ABANDONED_CART: "Abandoned cart", ABANDONED_BROWSE: "Abandoned browse",
    ABANDONED_CATEGORY: "Abandoned category view", SECTION_VISITED: "Customer visited section",
    CUSTOM_EVENT: "Custom event", ORDER_COMPLETED: "Order completed",
}
MAX_RULES = 100
MAX_MATCH = 100
MAX_VALUE = 128  # a page name, event name or category id, as tracked events allow
MAX_TITLE = 200
MAX_SECONDS = 31_536_000  # a year: the longest delay or cap


def default_rule_id(type_: str) -> str:
    return f"default:{type_}"


@dataclass(frozen=True)
class Rule:
    rule_id: str
    type: str
    title: str | None
    enabled: bool
    match: tuple[str, ...]
    delay_seconds: int | None  # None on a cart rule: the shop's abandonedCartDelaySeconds
    cap_seconds: int
    created_at: datetime
    holdout_percent: int = 0  # customers left out, for lift (app/triggers/holdout.py)

    @property
    def is_default(self) -> bool:
        return self.rule_id == default_rule_id(self.type)

    @property
    def follows_shop_delay(self) -> bool:
        return self.type == ABANDONED_CART and self.delay_seconds is None

    def accepts(self, name: str | None) -> bool:
        """Whether a trigger named `name` (page, event or category) falls under this rule."""
        return not self.match or name in self.match

    def to_doc(self) -> dict[str, Any]:
        return {"ruleId": self.rule_id, "type": self.type, "title": self.title,
                "enabled": self.enabled, "match": list(self.match),
                "delaySeconds": self.delay_seconds, "capSeconds": self.cap_seconds,
                "createdAt": self.created_at, "holdoutPercent": self.holdout_percent}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Rule:
        return cls(rule_id=doc["ruleId"], type=doc["type"], title=doc.get("title"),
                   enabled=bool(doc.get("enabled", True)), match=tuple(doc.get("match") or ()),
                   delay_seconds=doc.get("delaySeconds"), cap_seconds=doc.get("capSeconds") or 0,
                   created_at=doc["createdAt"], holdout_percent=doc.get("holdoutPercent") or 0)


def defaults(now: datetime) -> list[Rule]:
    """The rules every shop starts with: section 4's behaviour, unchanged."""
    return [Rule(rule_id=default_rule_id(t), type=t, title=DEFAULT_TITLES[t], enabled=True,
                 match=(), cap_seconds=0, created_at=now,
                 delay_seconds=DEFAULT_DELAY if t in (ABANDONED_BROWSE, ABANDONED_CATEGORY)
                 else None)
            for t in RULE_TYPES]


@dataclass(frozen=True)
class RuleSet:
    """A shop's rules, with the shop's abandoned-cart delay they may refer to."""

    rules: tuple[Rule, ...]
    shop_cart_delay: int

    def delay_of(self, rule: Rule) -> int | None:
        if rule.follows_shop_delay:
            return self.shop_cart_delay
        return rule.delay_seconds

    def enabled(self, type_: str) -> list[Rule]:
        return [r for r in self.rules if r.enabled and r.type == type_]

    def first_delay(self, type_: str) -> int | None:
        """The shortest quiet time of the type's enabled rules: when the first could fire."""
        delays = [d for r in self.enabled(type_) if (d := self.delay_of(r)) is not None]
        return min(delays, default=None)

    def cart_delay(self) -> int:
        """When a changed cart is next looked at: its first rule, or the shop's delay (after
        which the cart shows as ABANDONED, rules or not), whichever comes first."""
        first = self.first_delay(ABANDONED_CART)
        return self.shop_cart_delay if first is None else min(first, self.shop_cart_delay)

    def cap_of(self, rule_id: str | None) -> int:
        return next((r.cap_seconds for r in self.rules if r.rule_id == rule_id), 0)

    def fan_out(self, base: dict[str, Any]) -> list[dict[str, Any]]:
        """The triggers `base` (a trigger without a rule) stands for: one per enabled rule
        of its type that accepts its name, each carrying the rule's id."""
        return [with_rule(base, rule) for rule in self.enabled(base["type"])
                if rule.accepts(base.get("name"))]


def with_rule(base: dict[str, Any], rule: Rule) -> dict[str, Any]:
    """`base` as fired through `rule`: the default rule keeps the id triggers had before rules."""
    doc = {**base, "ruleId": rule.rule_id}
    if not rule.is_default:
        doc["_id"] = f"{base['_id']}:{rule.rule_id}"
    if rule.holdout_percent and held_out(
            rule.rule_id, owner_of(base.get("userId"), base["visitorId"]), rule.holdout_percent):
        doc.update(heldOut=True, published=True)  # stored only: app/triggers/holdout.py
    return doc


# -- input rules ---------------------------------------------------------------------

FIELDS = ("title", "enabled", "match", "delay_seconds", "cap_seconds", "holdout_percent")


def changed(rule: Rule, given: dict[str, Any], shop_cart_delay: int) -> Rule:
    """`rule` with the fields given (None = keep) applied, checked as a whole."""
    values = {name: getattr(rule, name) for name in FIELDS}
    for name in FIELDS:
        if given.get(name) is not None:
            values[name] = given[name]
    if values["match"] is not None:
        values["match"] = tuple(values["match"])
    return check(Rule(rule_id=rule.rule_id, type=rule.type, created_at=rule.created_at,
                      **values), shop_cart_delay, given)


def check(rule: Rule, shop_cart_delay: int, given: dict[str, Any]) -> Rule:
    """The rule if every field fits its type; BadInput naming the first that does not."""
    _check_type(rule.type)
    if given.get("match") and rule.type not in MATCHES:
        raise BadInput(f"{rule.type} rules have no names to match", field="match")
    match = _checked_match(rule.match)
    delay = rule.delay_seconds
    if given.get("delay_seconds") is not None and rule.type not in DELAY_TYPES:
        raise BadInput(f"{rule.type} fires on the event itself: it has no delay",
                       field="delaySeconds")
    if delay is not None:
        _check_seconds(delay, "delaySeconds", low=1)
    _check_seconds(rule.cap_seconds, "capSeconds", low=0)
    if not isinstance(rule.holdout_percent, int) or not 0 <= rule.holdout_percent <= MAX_PERCENT:
        raise BadInput(f"holdoutPercent must be a whole number from 0 to {MAX_PERCENT}",
                       field="holdoutPercent")
    title = rule.title
    if title is not None and len(title) > MAX_TITLE:
        raise BadInput(f"title is longer than {MAX_TITLE} characters", field="title")
    return Rule(rule_id=rule.rule_id, type=rule.type, title=title, enabled=rule.enabled,
                match=match, delay_seconds=delay, cap_seconds=rule.cap_seconds,
                created_at=rule.created_at, holdout_percent=rule.holdout_percent)


def new_rule(rule_id: str, given: dict[str, Any], shop_cart_delay: int,
             now: datetime) -> Rule:
    """A rule created from the input; delays not given take the type's default."""
    type_ = _check_type(given.get("type"))
    delay = given.get("delay_seconds")
    if delay is None and type_ in (ABANDONED_BROWSE, ABANDONED_CATEGORY):
        delay = DEFAULT_DELAY
    elif delay is None and type_ == ABANDONED_CART:
        delay = shop_cart_delay  # its own from now on; only the default rule follows the shop
    enabled = given.get("enabled")
    rule = Rule(rule_id=rule_id, type=type_, title=given.get("title"),
                enabled=True if enabled is None else bool(enabled),
                match=tuple(given.get("match") or ()), delay_seconds=delay,
                cap_seconds=given.get("cap_seconds") or 0, created_at=now,
                holdout_percent=given.get("holdout_percent") or 0)
    return check(rule, shop_cart_delay, given)


def _check_type(type_: Any) -> str:
    if type_ not in RULE_TYPES:
        raise BadInput(f"rules are for the types {', '.join(RULE_TYPES)}; {type_} triggers "
                       "come from elsewhere (audiences: section 9)", field="type")
    return str(type_)


def _check_seconds(value: Any, name: str, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_SECONDS:
        raise BadInput(f"{name} must be a whole number of seconds from {low} to {MAX_SECONDS}",
                       field=name)


def _checked_match(values: Iterable[str]) -> tuple[str, ...]:
    values = list(values)
    if len(values) > MAX_MATCH:
        raise BadInput(f"match holds at most {MAX_MATCH} values", field="match")
    for value in values:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE \
                or any(ord(c) < 32 for c in value):
            raise BadInput(f"each match value must be 1 to {MAX_VALUE} characters, "
                           "without control characters", field="match")
    # Compared with tracked names, which are trimmed; repeats say nothing more.
    return tuple(dict.fromkeys(v.strip() for v in values))
