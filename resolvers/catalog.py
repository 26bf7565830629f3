"""The catalog: products by API or feed (shop key or admin key; CONTRACT.md section 11)."""

from __future__ import annotations

from strawberry.types import Info

from app.catalog import MAX_PRODUCTS, import_feed
from app.core import BadInput
from resolvers import null_means_default
from schema.catalog import CatalogResult, Product, ProductInput
from schema.catalog_pages import ProductConnection
from schema.types import PageInfo

MAX_PAGE = 200


async def product(info: Info, shop_id: int, product_id: str) -> Product | None:
    await info.context.authorize(shop_id)
    doc = await info.context.platform.catalog.get(shop_id, product_id)
    return Product.from_doc(doc) if doc else None


@null_means_default
async def products(info: Info, shop_id: int, category_id: str | None = None, first: int = 50,
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
