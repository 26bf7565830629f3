"""What a webhook carries: the body, the Standard Webhooks headers and the signature.

The body is the same bytes on every attempt (its `timestamp` is when the trigger
fired); only `webhook-timestamp` and the signature change per attempt, as the
convention wants (https://www.standardwebhooks.com/).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from app.core import utc

# The GraphQL Trigger's fields, in its order. The server passes the schema's own list
# (app/server/workers.py), so that a field added there is in the payload too.
TRIGGER_FIELDS = ("triggerId", "type", "shopId", "userId", "visitorId", "name", "firedAt",
                  "cart", "properties")
CART_ITEM_FIELDS = ("productId", "categoryId", "quantity", "price", "addedAt")
# Printable ASCII but "%": what a header value may carry as is. Anything else in a
# trigger id (a user id with a space or an accent, in an abandoned cart's id) is
# percent-encoded, so `webhook-id` is the trigger id whenever it can be.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")


def event_type(trigger_type: str) -> str:
    return f"trigger.{trigger_type.lower()}"


def webhook_id(trigger_id: str) -> str:
    return quote(trigger_id, safe=_HEADER_SAFE)


def trigger_data(doc: dict[str, Any], fields: Sequence[str] = TRIGGER_FIELDS) -> dict[str, Any]:
    """The trigger as the subscription shows it: every field, null where it has none."""
    data: dict[str, Any] = {}
    for name in fields:
        value = doc.get("_id") if name == "triggerId" else doc.get(name)
        if name == "link":  # as app/attribution/channels.link writes it (a lower layer here)
            value = "smc_tid=" + quote(doc["_id"], safe=":@-._~")
        elif name == "heldOut":
            value = bool(value)
        elif name == "properties":
            value = json.loads(value) if value else None
        elif name == "cart" and value:
            value = {"items": [{f: item.get(f) for f in CART_ITEM_FIELDS}
                               for item in value.get("items") or []],
                     "status": value.get("status", "ACTIVE"),
                     "updatedAt": value.get("updatedAt")}
        data[name] = value
    return data


class Unbuildable(ValueError):
    """The trigger has no JSON body: text without a UTF-8 form (a lone surrogate, stored
    before the tracker refused those), or a value JSON cannot carry."""


def body(doc: dict[str, Any], fields: Sequence[str] = TRIGGER_FIELDS) -> bytes:
    """The webhook's JSON bytes, or Unbuildable: no attempt can ever send this trigger."""
    try:
        message = {"type": event_type(doc["type"]), "timestamp": doc["firedAt"],
                   "data": trigger_data(doc, fields)}
        return json.dumps(message, default=_json_default, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False).encode()
    except UnicodeEncodeError:
        raise Unbuildable("a text holds a lone surrogate, which has no UTF-8 form") from None
    except (TypeError, ValueError) as error:
        raise Unbuildable(f"a value cannot be written as JSON ({type(error).__name__})") \
            from None


def sign(secret: str, message_id: str, timestamp: int, content: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the decoded secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + content
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secret: str, trigger_id: str, timestamp: int, content: bytes) -> dict[str, str]:
    message_id = webhook_id(trigger_id)
    return {
        "content-type": "application/json",
        "user-agent": "smartcom-tracker-webhooks",
        "accept-encoding": "identity",  # an error's answer is kept as text, uncompressed
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, content),
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    raise TypeError(type(value).__name__)
