"""GraphQL pages of the catalog: the products connection."""

from __future__ import annotations

import strawberry

from schema.catalog import Product
from schema.types import PageInfo


@strawberry.type
class ProductConnection:
    nodes: list[Product]
    page_info: PageInfo
