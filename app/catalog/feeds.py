"""Product feeds: YML (Yandex Market Language) and Google Merchant (RSS 2.0 or Atom).

Parsed with defusedxml's `iterparse` (expat underneath: no network access ever;
a DTD with declarations, an entity or an external reference is refused: only the
bare `<!DOCTYPE yml_catalog SYSTEM "shops.dtd">` of older YML files passes, its
address never fetched), as a stream:
each offer is turned into a product and its element removed from the tree as
soon as it ends, so memory holds one offer at a time, not the file's tree.

`offers(path)` yields, per offer in document order, its index and either the
product (contract names, as `upsertProducts` takes them) or why it is rejected.
A file that is not XML, not one of the formats, or unsafe raises `FeedError`
when it is met; the importer (app/catalog/imports.py) reads the file once to the
end before it applies anything, so such a file changes nothing.

YML: `yml_catalog/shop/offers/offer` with the attributes `id` and `available`
and the children `url`, `price`, `oldprice`, `currencyId`, `categoryId`, `name`
(or `typePrefix` + `vendor` + `model`) and `picture` (the first one).
Google: `rss/channel/item` or Atom `feed/entry` with `g:id`, `g:title`, `g:link`,
`g:image_link`, `g:price` ("12.50 RUB"), `g:sale_price` (then the price is the
sale price and `oldPrice` the regular one), `g:availability` ("in stock" /
"out of stock" / "preorder" / "backorder"), `g:product_type` or
`g:google_product_category` as the category; plain `title` / `link` as fallbacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import DefusedXMLParser, iterparse

G = "{http://base.google.com/ns/1.0}"
ATOM = "{http://www.w3.org/2005/Atom}"
YML, GOOGLE_RSS, GOOGLE_ATOM = "YML", "GOOGLE_RSS", "GOOGLE_ATOM"
ROOTS = {"yml_catalog": YML, "rss": GOOGLE_RSS, f"{ATOM}feed": GOOGLE_ATOM}
OFFER_TAGS = {YML: "offer", GOOGLE_RSS: "item", GOOGLE_ATOM: f"{ATOM}entry"}
# "12.50 RUB", "9990", "1 299,00": digits with spaces between thousands, "." or ","
PRICE = re.compile(r"^\s*([0-9][0-9 \u00a0]*(?:[.,][0-9]+)?)\s*([A-Za-z]{3})?\s*$")
IN_STOCK = {"in stock", "in_stock", "preorder", "backorder", "limited availability"}
OUT_OF_STOCK = {"out of stock", "out_of_stock", "discontinued"}


class FeedParser(DefusedXMLParser):
    """defusedxml's parser with entities and external references refused, and a DTD
    refused unless it is a bare `<!DOCTYPE yml_catalog SYSTEM "shops.dtd">`, as older YML
    files start: a name and an address never fetched, no declarations of its own."""

    def __init__(self) -> None:
        super().__init__(target=TreeBuilder(), forbid_dtd=True, forbid_entities=True,
                         forbid_external=True)

    def defused_start_doctype_decl(self, name: str, sysid: str | None, pubid: str | None,
                                   has_internal_subset: bool) -> None:
        if has_internal_subset:
            raise DTDForbidden(name, sysid, pubid)


class FeedError(ValueError):
    """The file is not a feed this platform reads, or is unsafe."""


class BadOffer(ValueError):
    """One offer that cannot be read; the others can."""

    product_id: str | None = None


def offers(path: str) -> Iterator[tuple[int, dict[str, Any] | BadOffer]]:
    """Each offer of the feed at `path`: (index, product or BadOffer)."""
    try:
        yield from _offers(path)
    except DefusedXmlException as error:
        raise FeedError(f"the feed is unsafe XML ({type(error).__name__}: DTDs, entities and "
                        "external references are refused)") from None
    except ParseError as error:
        raise FeedError(f"the feed is not well-formed XML ({error})") from None


def _offers(path: str) -> Iterator[tuple[int, dict[str, Any] | BadOffer]]:
    kind: str | None = None
    stack: list[Element] = []
    index = 0
    for event, elem in iterparse(path, events=("start", "end"), parser=FeedParser()):
        if event == "start":
            if kind is None:
                kind = ROOTS.get(elem.tag)
                if kind is None:
                    raise FeedError(f"not a product feed: the document is <{_local(elem.tag)}>, "
                                    "not a YML <yml_catalog>, an RSS <rss> or an Atom <feed>")
            stack.append(elem)
            continue
        stack.pop()
        if elem.tag != OFFER_TAGS[kind or YML]:
            continue
        try:
            yield index, (_yml(elem) if kind == YML else _google(elem))
        except BadOffer as error:
            error.product_id = elem.get("id") or _child(elem, f"{G}id")
            yield index, error
        index += 1
        elem.clear()  # the offer is read: keep no tree of offers
        if stack:
            stack[-1].remove(elem)
    if kind is None:
        raise FeedError("not a product feed: the document is empty")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: Element, *tags: str) -> str | None:
    for tag in tags:
        found = elem.find(tag)
        if found is not None:
            text = (found.text or "").strip() or (found.get("href") or "").strip()
            if text:
                return text
    return None


def _number(text: str | None, name: str) -> tuple[float | None, str | None]:
    if text is None:
        return None, None
    found = PRICE.match(text)
    if not found:
        raise BadOffer(f"{name} {text[:40]!r} is not a price")
    digits = re.sub(r"[ \u00a0]", "", found.group(1)).replace(",", ".")
    return float(digits), (found.group(2) or "").upper() or None


def _yml(offer: Element) -> dict[str, Any]:
    product_id = (offer.get("id") or "").strip()
    if not product_id:
        raise BadOffer("the offer has no id")
    name = _child(offer, "name") or " ".join(
        t for t in (_child(offer, "typePrefix"), _child(offer, "vendor"), _child(offer, "model"))
        if t) or None
    price, _ = _number(_child(offer, "price"), "price")
    old, _ = _number(_child(offer, "oldprice"), "oldprice")
    available = (offer.get("available") or "true").strip().lower()
    if available not in {"true", "false"}:
        raise BadOffer(f"available {available[:20]!r} is neither true nor false")
    return {"productId": product_id, "categoryId": _child(offer, "categoryId"), "name": name,
            "url": _child(offer, "url"), "imageUrl": _child(offer, "picture"),
            "price": price, "oldPrice": old, "currency": _child(offer, "currencyId"),
            "available": available == "true"}


def _google(item: Element) -> dict[str, Any]:
    product_id = _child(item, f"{G}id")
    if not product_id:
        raise BadOffer("the item has no g:id")
    regular, currency = _number(_child(item, f"{G}price"), "g:price")
    sale, sale_currency = _number(_child(item, f"{G}sale_price"), "g:sale_price")
    availability = (_child(item, f"{G}availability") or "in stock").lower()
    if availability not in IN_STOCK | OUT_OF_STOCK:
        raise BadOffer(f"g:availability {availability[:30]!r} is not one Google defines")
    return {"productId": product_id,
            "categoryId": _child(item, f"{G}product_type", f"{G}google_product_category"),
            "name": _child(item, f"{G}title", "title", f"{ATOM}title"),
            "url": _child(item, f"{G}link", "link", f"{ATOM}link"),
            "imageUrl": _child(item, f"{G}image_link"),
            "price": sale if sale is not None else regular,
            "oldPrice": regular if sale is not None else None,
            "currency": sale_currency or currency, "available": availability in IN_STOCK}
