"""A shop's settings: their defaults, names and checks, each in one place."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from app.interests import HALF_LIFE_SECONDS

DEFAULT_WEIGHTS: dict[str, float] = {
    "categoryView": 1.0,
    "productViewProduct": 2.0,
    "productViewCategory": 1.0,
    "cartAddProduct": 5.0,
    "cartAddCategory": 2.0,
    "purchaseProduct": 10.0,
    "purchaseCategory": 4.0,
}


@dataclass
class ShopSettings:
    session_timeout_seconds: int = 1800
    abandoned_cart_delay_seconds: int = 3600
    anonymous_history_days: int = 60
    allowed_origins: list[str] = field(default_factory=list)
    require_signed_identify: bool = False
    interest_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    interest_half_life_seconds: int = HALF_LIFE_SECONDS
    attribution_window_seconds: int = 604_800  # an order's attribution looks back 7 days

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ShopSettings:
        """The settings as stored (contract names); what is not stored takes its default."""
        settings = cls()
        for name, stored in STORED_NAMES.items():
            if stored in doc:
                setattr(settings, name, doc[stored])
        settings.allowed_origins = list(settings.allowed_origins)
        settings.interest_weights = {**DEFAULT_WEIGHTS, **(doc.get("interestWeights") or {})}
        return settings

    def to_doc(self) -> dict[str, Any]:
        return {stored: getattr(self, name) for name, stored in STORED_NAMES.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


# Each setting's name in storage and in the API (the contract's camelCase).
STORED_NAMES = {f.name: _camel(f.name) for f in fields(ShopSettings)}


SETTING_CHECKS = {
    "session_timeout_seconds": lambda v: isinstance(v, int) and 1 <= v <= 31_536_000,
    "abandoned_cart_delay_seconds": lambda v: isinstance(v, int) and 1 <= v <= 31_536_000,
    "anonymous_history_days": lambda v: isinstance(v, int) and 1 <= v <= 365,
    "allowed_origins": lambda v: isinstance(v, list)
    and len(v) <= 100
    and all(isinstance(o, str) and 0 < len(o) <= 255 for o in v),
    "require_signed_identify": lambda v: isinstance(v, bool),
    "interest_weights": lambda v: isinstance(v, dict)
    and set(v) <= set(DEFAULT_WEIGHTS)
    and all(_number(w) and 0 <= w <= 1000 for w in v.values()),
    "interest_half_life_seconds": lambda v: isinstance(v, int) and 1 <= v <= 2**31 - 1,
    "attribution_window_seconds": lambda v: isinstance(v, int) and not isinstance(v, bool)
    and 1 <= v <= 31_536_000,
}


def _number(value: object) -> bool:
    """An int or a float, and not a bool (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
