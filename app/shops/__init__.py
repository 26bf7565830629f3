"""Shops: the registry (ids, keys, settings, cached per process), their settings table and API keys.
"""

from app.shops.api_keys import shop_id_of_key
from app.shops.registry import Shop, Shops
from app.shops.settings import ShopSettings

__all__ = [
    "Shop",
    "ShopSettings",
    "Shops",
    "shop_id_of_key",
]
