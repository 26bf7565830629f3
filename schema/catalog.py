"""GraphQL types of the catalog (CONTRACT.md section 11), and `product` on other types.

`product` on CartItem, ProductInterest and ProductStat resolves through one
loader per operation (strawberry's DataLoader), so a page of fifty cart items
costs one read of the catalog, not fifty. A trigger carries the product as it
was when it fired (`product` inside each of its products); that copy is shown
as it is, as the webhook carried it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from app.core import utc


@strawberry.type
class Product:
    product_id: str
    category_id: str | None
    name: str | None
    url: str | None
    image_url: str | None
    price: float | None
    old_price: float | None
    currency: str | None
    available: bool
    updated_at: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Product:
        return cls(product_id=doc["productId"], category_id=doc.get("categoryId"),
                   name=doc.get("name"), url=doc.get("url"), image_url=doc.get("imageUrl"),
                   price=doc.get("price"), old_price=doc.get("oldPrice"),
                   currency=doc.get("currency"), available=doc.get("available") is not False,
                   updated_at=_time(doc.get("updatedAt")))


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value) if isinstance(value, datetime) else utc(datetime.min)


@strawberry.input
class ProductInput:
    product_id: str
    category_id: str | None = None
    name: str | None = None
    url: str | None = None
    image_url: str | None = None
    price: float | None = None
    old_price: float | None = None
    currency: str | None = None
    available: bool | None = strawberry.field(default=None, description="Default true.")

    def given(self) -> dict[str, Any]:
        """The product by the contract's names; None = not given (the stored value stays)."""
        return {"productId": self.product_id, "categoryId": self.category_id,
                "name": self.name, "url": self.url, "imageUrl": self.image_url,
                "price": self.price, "oldPrice": self.old_price, "currency": self.currency,
                "available": self.available}


@strawberry.type
class CatalogError:
    index: int | None
    product_id: str | None
    message: str


@strawberry.type(description="At most the first 100 errors are listed.")
class CatalogResult:
    received: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[CatalogError]

    @classmethod
    def of(cls, result: Any) -> CatalogResult:
        return cls(received=result.received, created=result.created, updated=result.updated,
                   unchanged=result.unchanged, rejected=result.rejected,
                   errors=[CatalogError(index=e["index"], product_id=e["productId"],
                                        message=e["message"]) for e in result.errors])


def _loader(info: Info) -> DataLoader[tuple[int, str], dict[str, Any] | None]:
    context = info.context
    loader = getattr(context, "_product_loader", None)
    if loader is None:
        catalog = context.platform.catalog

        async def load(keys: list[tuple[int, str]]) -> list[dict[str, Any] | None]:
            by_shop: dict[int, list[str]] = defaultdict(list)
            for shop_id, product_id in keys:
                by_shop[shop_id].append(product_id)
            found = {shop_id: await catalog.get_many(shop_id, ids)
                     for shop_id, ids in by_shop.items()}
            return [found[s].get(p) for s, p in keys]

        loader = DataLoader(load_fn=load)
        context._product_loader = loader
    return loader


class _NotGiven:
    """An item that carries no copy of its product (not even a null one)."""


NOT_GIVEN: Any = _NotGiven()


async def product_of(info: Info, shop_id: int | None, product_id: str,
                     snapshot: Any = NOT_GIVEN) -> Product | None:
    """The catalog's product (null when it does not have it); a trigger's copy (which may
    be null: the catalog did not have it then) if it carries one."""
    if snapshot is not NOT_GIVEN:
        return Product.from_doc(snapshot) if snapshot else None
    if shop_id is None:
        return None
    doc = await _loader(info).load((shop_id, product_id))
    return Product.from_doc(doc) if doc else None


@strawberry.type
class WithProduct:
    """`product` on a type that names a product (CartItem, ProductInterest): the copy the
    item carries (a trigger's), else the catalog's, read through the loader."""

    shop_id: strawberry.Private[int | None] = None
    snapshot: strawberry.Private[Any] = NOT_GIVEN

    @strawberry.field(description="The catalog's product (in a trigger: as it was when the "
                      "trigger fired); null when the catalog does not have it.")
    async def product(self, info: Info) -> Product | None:
        return await product_of(info, self.shop_id, self.product_id,  # type: ignore[attr-defined]
                                self.snapshot)
