"""Tracked events as the pipeline sees them, and the rules every field must pass."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.core.errors import BadInput

VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
CONTROL = re.compile(r"[\x00-\x1f]")  # characters below 32: one scan in C, not per character
MAX_ID = 128
MAX_NAME = 128
MAX_URL = 2048
MAX_TOKEN = 1024
MAX_PROPERTIES_BYTES = 4096
MAX_QUANTITY = 100_000
MAX_PRICE = 1e12
MAX_BATCH = 100
TOKEN_PARAM = "smc_token"
# An anonymous event a fold has still to read (the traffic rollups', `rolled: false`; a
# product view's co-occurrence, CO_PENDING) keeps its expiry here, not in `expireAt`:
# MongoDB's TTL index deletes by `expireAt` whatever is read, and the last of those folds
# to finish with the event moves it there (app/analytics/rollups.py,
# app/recommendations/fold.py).
PENDING_EXPIRY = "pendingExpireAt"
CO_PENDING = "coAt"  # when a product view was marked for the co-occurrence fold


class EventType(Enum):
    VISIT = "VISIT"
    PRODUCT_VIEW = "PRODUCT_VIEW"
    CATEGORY_VIEW = "CATEGORY_VIEW"
    SECTION_VIEW = "SECTION_VIEW"
    LOGIN = "LOGIN"
    REGISTRATION = "REGISTRATION"
    CART_ADD = "CART_ADD"
    CART_REMOVE = "CART_REMOVE"
    CART_CLEAR = "CART_CLEAR"
    CHECKOUT = "CHECKOUT"
    CUSTOM = "CUSTOM"
    STOCK_NOTIFY = "STOCK_NOTIFY"  # "tell me when it is back" (app/catalog/stock.py)


IDENTIFY_TYPES = {EventType.LOGIN, EventType.REGISTRATION}

# The fields each type needs; the others must be absent or are ignored.
REQUIRED: dict[EventType, tuple[str, ...]] = {
    EventType.VISIT: (),
    EventType.PRODUCT_VIEW: ("category_id", "product_id"),
    EventType.CATEGORY_VIEW: ("category_id",),
    EventType.SECTION_VIEW: ("page_name",),
    EventType.LOGIN: ("user_id",),
    EventType.REGISTRATION: ("user_id",),
    EventType.CART_ADD: ("category_id", "product_id"),
    EventType.CART_REMOVE: ("product_id",),
    EventType.CART_CLEAR: (),
    EventType.CHECKOUT: ("order_id",),
    EventType.CUSTOM: ("event_name",),
    EventType.STOCK_NOTIFY: ("product_id",),
}

CAMEL = {
    "category_id": "categoryId",
    "product_id": "productId",
    "page_name": "pageName",
    "user_id": "userId",
    "order_id": "orderId",
    "event_name": "eventName",
}


@dataclass
class Context:
    shop_id: int
    visitor_id: str
    source_id: str | None = None
    event_id: str | None = None
    occurred_at: datetime | None = None
    sent_at: datetime | None = None
    url: str | None = None
    referrer: str | None = None
    identity_token: str | None = None


@dataclass
class EventInput:
    type: EventType
    context: Context
    category_id: str | None = None
    product_id: str | None = None
    page_name: str | None = None
    user_id: str | None = None
    user_hash: str | None = None
    quantity: int | None = None
    price: float | None = None
    order_id: str | None = None
    event_name: str | None = None
    properties: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def without_token(url: str | None) -> str | None:
    """The address without a newsletter link's identity token, which must not be stored."""
    if not url or TOKEN_PARAM not in url:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != TOKEN_PARAM]
    return urlunsplit(parts._replace(query=urlencode(query)))


def storable(value: str, name: str) -> str:
    """The text, unless it holds a lone surrogate ("\\ud800" in JSON): such text has no
    UTF-8 form, so it can never be stored, hashed or sent. Refused as the item's error."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise BadInput(f"{name} holds a lone surrogate, which is not text", field=name) from None
    return value


def _cut(value: str | None, name: str) -> str | None:
    """Addresses are kept to MAX_URL characters: a long one is no reason to lose the event."""
    if value is not None and not isinstance(value, str):
        raise BadInput(f"{name} must be a string", field=name)
    return storable(value[:MAX_URL], name) if value else value


def _text(value: str | None, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string", field=name)
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters", field=name)
    return storable(value, name)


def _identifier(value: str | None, name: str) -> str | None:
    value = _text(value, name, MAX_ID)
    if value is not None:
        value = value.strip()
        if not value:
            raise BadInput(f"{name} must not be empty", field=name)
        if CONTROL.search(value):
            raise BadInput(f"{name} must not contain control characters", field=name)
    return value


def validate(event: EventInput) -> EventInput:
    """Check and normalise one event in place; raise BadInput naming the field."""
    ctx = event.context
    if not isinstance(ctx.shop_id, int) or not 1 <= ctx.shop_id <= 2**31 - 1:
        raise BadInput("shopId must be a positive 32-bit integer", field="shopId")
    if not isinstance(ctx.visitor_id, str) or not VISITOR_ID.match(ctx.visitor_id):
        raise BadInput("visitorId must be 1 to 64 characters of [A-Za-z0-9_-]", field="visitorId")
    if ctx.event_id is not None and not EVENT_ID.match(ctx.event_id):
        raise BadInput("eventId must be 1 to 128 characters of [A-Za-z0-9_.:-]", field="eventId")
    ctx.source_id = _text(ctx.source_id, "sourceId", 64) or None
    ctx.url = _cut(without_token(ctx.url), "url")
    ctx.referrer = _cut(without_token(ctx.referrer), "referrer")
    ctx.identity_token = _text(ctx.identity_token, "identityToken", MAX_TOKEN) or None
    for name in ("category_id", "product_id", "user_id", "order_id"):
        setattr(event, name, _identifier(getattr(event, name), CAMEL[name]))
    event.page_name = _identifier(_text(event.page_name, "pageName", MAX_NAME), "pageName")
    event.event_name = _identifier(_text(event.event_name, "eventName", MAX_NAME), "eventName")
    event.user_hash = _text(event.user_hash, "userHash", 128)
    for name in REQUIRED[event.type]:
        if getattr(event, name) is None:
            raise BadInput(f"{event.type.value} needs {CAMEL[name]}", field=CAMEL[name])
    if event.type == EventType.CART_ADD:
        quantity = 1 if event.quantity is None else event.quantity
        if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise BadInput(f"quantity must be a whole number from 1 to {MAX_QUANTITY}",
                           field="quantity")
        event.quantity = quantity
        if event.price is not None and not (0 <= event.price <= MAX_PRICE):
            raise BadInput("price must be a number from 0 up", field="price")
    else:
        event.quantity = None
        event.price = None
    if event.properties is not None:
        try:
            encoded = json.dumps(event.properties, separators=(",", ":"), allow_nan=False,
                                 ensure_ascii=False)
        except (TypeError, ValueError):
            raise BadInput("properties must be JSON", field="properties") from None
        if len(storable(encoded, "properties").encode()) > MAX_PROPERTIES_BYTES:
            raise BadInput(f"properties are larger than {MAX_PROPERTIES_BYTES} bytes",
                           field="properties")
    if ctx.event_id is None:
        ctx.event_id = uuid.uuid4().hex
    return event

