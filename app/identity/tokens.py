"""Who a visitor says it is: newsletter tokens and signed identify (`userHash`).

Linking a visitor to its customer once identified is app/identity/linking.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta

from app.core import BadInput, Forbidden, b64


def issue_token(secret: str, shop_id: int, user_id: str, now: datetime, ttl_days: int) -> str:
    """A URL-safe token naming the shop and the customer, signed, that expires."""
    if not 1 <= ttl_days <= 365:
        raise BadInput("ttlDays must be from 1 to 365", field="ttlDays")
    expires = int((now + timedelta(days=ttl_days)).timestamp())
    payload = b64.encode(json.dumps({"s": shop_id, "u": user_id, "e": expires},
                              separators=(",", ":")).encode())
    return f"{payload}.{_sign(secret, payload)}"


def _sign(secret: str, payload: str) -> str:
    return b64.encode(hmac.new(secret.encode(), b"smc-token:" + payload.encode(),
                         hashlib.sha256).digest())


def verify_token(secret: str, token: str, shop_id: int, now: datetime) -> str:
    """The customer a token names; Forbidden if forged, altered, expired or another shop's."""
    try:
        payload, signature = token.split(".")
        if not hmac.compare_digest(_sign(secret, payload), signature):
            raise ValueError("signature")
        claims = json.loads(b64.decode(payload))
        user_id, token_shop, expires = claims["u"], claims["s"], claims["e"]
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise Forbidden("identity token is not valid", field="identityToken") from None
    if token_shop != shop_id:
        raise Forbidden("identity token belongs to another shop", field="identityToken")
    if now.timestamp() > expires:
        raise Forbidden("identity token has expired", field="identityToken")
    return str(user_id)


def user_hash(identify_secret: str, user_id: str) -> str:
    return hmac.new(identify_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_user_hash(identify_secret: str, user_id: str, given: str | None) -> None:
    """With requireSignedIdentify on, login/register must prove the shop's server made them."""
    if not given:
        raise Forbidden("userHash is required by this shop (requireSignedIdentify)",
                        field="userHash")
    if not given.isascii():  # compare_digest takes ASCII only: this is no hex digest anyway
        raise BadInput("userHash must be the hexadecimal HMAC-SHA256 of userId",
                       field="userHash")
    if not hmac.compare_digest(user_hash(identify_secret, user_id), given.lower()):
        raise Forbidden("userHash does not match userId", field="userHash")


def valid_user_id(user_id: str) -> str:
    user_id = user_id.strip()
    if not 1 <= len(user_id) <= 128 or any(ord(c) < 32 for c in user_id):
        raise BadInput("userId must be 1 to 128 printable characters", field="userId")
    return user_id
