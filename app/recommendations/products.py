"""Product data for recommendations: the catalog's documents, read in one round trip.

The one place recommendations read the catalog (collection `products`,
`_id = "<shop>:<product>"`, CONTRACT.md section 11), so it can become the catalog's face
(`platform.catalog.get_many`) without touching the strategies. A product the catalog
does not know is recommended without data; one it marks unavailable never is.
"""

from __future__ import annotations

from typing import Any

# What a storefront may see of a product (no internal fields).
PUBLIC_FIELDS = ("productId", "categoryId", "name", "url", "imageUrl", "price", "oldPrice",
                 "currency", "available", "updatedAt")


async def get_many(storage: Any, shop_id: int, product_ids: list[str]) -> dict[str, dict]:
    """The catalog's documents of these products, by product id."""
    if not product_ids:
        return {}
    docs = await storage.products.find(
        {"_id": {"$in": [f"{shop_id}:{p}" for p in product_ids]}, "shopId": shop_id}
    ).to_list(None)
    return {d["productId"]: d for d in docs}


def available(doc: dict[str, Any] | None) -> bool:
    return doc is None or doc.get("available", True) is not False


def public(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The product as a storefront may see it."""
    if doc is None:
        return None
    out = {k: doc.get(k) for k in PUBLIC_FIELDS}
    if out["updatedAt"] is not None and hasattr(out["updatedAt"], "isoformat"):
        out["updatedAt"] = out["updatedAt"].isoformat()
    return out
