"""The catalog: products by API or feed (shop key or admin key; CONTRACT.md section 11)."""

from __future__ import annotations

from strawberry.types import Info

from app.catalog import MAX_PRODUCTS, import_feed, interested_customers
from app.core import BadInput, utc
from resolvers import null_means_default
from schema.catalog import CatalogResult, Product, ProductInput
from schema.catalog_pages import InterestedCustomer, PricePoint, ProductConnection
from schema.types import PageInfo

MAX_PAGE = 200


async def product(info: Info, shop_id: int, product_id: str) -> Product | None:
    await info.context.authorize(shop_id)
    doc = await info.context.platform.catalog.get(shop_id, product_id)
    return Product.from_doc(doc) if doc else None


@null_means_default
async def products(info: Info, shop_id: int, category_id: str | None = None,
                   first: int | None = 50,
                   after: str | None = None) -> ProductConnection:
    """The shop's products in id order; `after` is the last product id of the page before."""
    await info.context.authorize(shop_id)
    if not 1 <= first <= MAX_PAGE:
        raise BadInput(f"first must be from 1 to {MAX_PAGE}", field="first")
    docs = await info.context.platform.catalog.page(shop_id, category_id, first, after)
    page = docs[:first]
    return ProductConnection(
        nodes=[Product.from_doc(d) for d in page],
        page_info=PageInfo(has_next_page=len(docs) > first,
                           end_cursor=page[-1]["productId"] if page else None))


async def upsert_products(info: Info, shop_id: int, products: list[ProductInput]
                          ) -> CatalogResult:
    await info.context.authorize(shop_id)
    await info.context.platform.shops.require_existing(shop_id)
    result = await info.context.platform.catalog.upsert(shop_id, [p.given() for p in products])
    return CatalogResult.of(result)


async def delete_products(info: Info, shop_id: int, product_ids: list[str]) -> int:
    await info.context.authorize(shop_id)
    if len(product_ids) > MAX_PRODUCTS:
        raise BadInput(f"at most {MAX_PRODUCTS} product ids a call", field="productIds")
    return await info.context.platform.catalog.delete(shop_id, product_ids)


async def import_catalog_feed(info: Info, shop_id: int, url: str) -> CatalogResult:
    """Fetch the feed and apply it now."""
    await info.context.authorize(shop_id)
    await info.context.platform.shops.require_existing(shop_id)
    platform = info.context.platform
    return CatalogResult.of(await import_feed(platform.catalog, shop_id, url,
                                              platform.settings.webhook_allow_private))


async def product_price_history(info: Info, shop_id: int, product_id: str) -> list[PricePoint]:
    """The product's prices, oldest first (the dashboard's product card)."""
    await info.context.authorize(shop_id)
    points = await info.context.platform.catalog.history(shop_id, product_id)
    return [PricePoint(at=utc(p["at"]), price=p.get("price")) for p in points]


@null_means_default
async def interested_customers_(info: Info, shop_id: int, product_id: str, first: int = 20
                                ) -> list[InterestedCustomer]:
    """The customers most interested in the product now, by score (1 to 200)."""
    await info.context.authorize(shop_id)
    if not 1 <= first <= MAX_PAGE:
        raise BadInput(f"first must be from 1 to {MAX_PAGE}", field="first")
    rows = await interested_customers(info.context.platform, shop_id, product_id, first)
    return [InterestedCustomer(user_id=r["userId"], score=r["score"], views=r.get("views", 0),
                               cart_adds=r.get("cartAdds", 0), purchases=r.get("purchases", 0),
                               last_interaction_at=utc(r["lastInteractionAt"])) for r in rows]
