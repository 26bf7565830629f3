"""Shop API keys: `sk_<shop>_<random>`; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_shop_key(shop_id: int) -> str:
    # The shop id in the key lets us find the shop without a lookup by hash.
    return f"sk_{shop_id}_{secrets.token_urlsafe(24)}"


MAX_SHOP_ID = 2**31 - 1


def shop_id_of_key(key: str) -> int | None:
    """The shop a key names, if it names one a shop could have (1 to 2**31 - 1)."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "sk":
        return None
    digits = parts[1]
    # ASCII digits only ("²".isdigit()), and few enough for int() (4,300-digit limit).
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 10):
        return None
    shop_id = int(digits)
    return shop_id if 1 <= shop_id <= MAX_SHOP_ID else None
