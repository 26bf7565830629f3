"""Who is calling: the operator (admin key), a shop (its key), or nobody.

Wrong keys are counted per client address (`Limiter.key_failed`): after a burst
of them the address gets RATE_LIMITED, for the right key too, until its bucket
refills. A missing key is not a guess and is not counted.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from app.access.limits import Limiter
from app.core import Forbidden, Unauthenticated
from app.shops import Shops, shop_id_of_key


@dataclass(frozen=True)
class Principal:
    admin: bool = False
    shop_id: int | None = None

    @property
    def key_id(self) -> str:
        return "admin" if self.admin else f"shop:{self.shop_id}"

    def require_admin(self) -> None:
        if not self.admin:
            raise Forbidden("this operation needs the admin key (permission: admin)")

    def require_shop(self, shop_id: int) -> None:
        if not self.admin and self.shop_id != shop_id:
            raise Forbidden(f"this key has no permission for shop {shop_id}")


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


@dataclass(frozen=True)
class Keys:
    """What checks keys: the shops (their key hashes), the admin key, the guessing limit."""

    shops: Shops
    admin_key: str
    limiter: Limiter

    async def principal(self, header: str | None, client: str) -> Principal:
        """The caller named by an `Authorization: Bearer <key>` header, asking from `client`.

        Unauthenticated without a valid key; RateLimited when `client` guessed too often.
        """
        key = bearer(header)
        if key is None:
            raise Unauthenticated("this operation needs 'Authorization: Bearer <key>'")
        principal = await self._owner(key)
        if principal is None:
            await self.limiter.key_failed(client)
            raise Unauthenticated("the key is not valid")
        self.limiter.refuse_if_blocked(client)
        return principal

    async def _owner(self, key: str) -> Principal | None:
        try:
            key.encode()
        except UnicodeEncodeError:  # a lone surrogate, from a WebSocket's JSON
            return None
        if self.admin_key and hmac.compare_digest(key.encode(), self.admin_key.encode()):
            return Principal(admin=True)
        shop_id = shop_id_of_key(key)
        if shop_id is not None:
            shop = await self.shops.get(shop_id)
            if shop is not None and shop.accepts_key(key):
                return Principal(shop_id=shop_id)
        return None
