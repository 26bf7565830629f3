"""Who is calling: the operator (admin key), a shop (its key), or nobody."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from app.errors import Forbidden, Unauthenticated
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


async def authenticate(shops: Shops, admin_key: str, header: str | None) -> Principal:
    """The caller named by an `Authorization: Bearer <key>` header; Unauthenticated if none."""
    key = bearer(header)
    if key is None:
        raise Unauthenticated("this operation needs 'Authorization: Bearer <key>'")
    if admin_key and hmac.compare_digest(key.encode(), admin_key.encode()):
        return Principal(admin=True)
    shop_id = shop_id_of_key(key)
    if shop_id is not None:
        shop = await shops.get(shop_id)
        if shop is not None and shop.accepts_key(key):
            return Principal(shop_id=shop_id)
    raise Unauthenticated("the key is not valid")
