"""Feeds as shops publish them, read as a stream (app/catalog/feeds.py)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from app.catalog.feeds import BadOffer, FeedError, offers
from tests.catalog.feed_server import FIXTURES


def read(path: Path) -> tuple[dict[str, dict], list[tuple[int, str]]]:
    good, bad = {}, []
    for index, offer in offers(str(path)):
        if isinstance(offer, BadOffer):
            bad.append((index, str(offer)))
        else:
            good[offer["productId"]] = offer
    return good, bad


def test_a_yml_feed_gives_names_from_cdata_prices_old_prices_and_availability():
    good, bad = read(FIXTURES / "shop.yml")
    pegasus = good["nike-pegasus-41"]
    assert pegasus["name"] == 'Кроссовки Nike Pegasus 41 "Blue & Gold"'
    assert (pegasus["price"], pegasus["oldPrice"], pegasus["currency"]) == (9990, 12990, "RUR")
    assert pegasus["imageUrl"].endswith("pegasus41-1.jpg")  # the first picture
    assert pegasus["categoryId"] == "10"
    assert good["salomon-xa-pro"]["available"] is False
    assert good["salomon-xa-pro"]["price"] == 14490  # "14 490.00"
    assert good["jacket-42"]["name"] == "Куртка беговая Asics Road Winter"  # vendor.model
    assert good["jacket-42"]["price"] == 5490.5  # "5490,50"
    assert good["jacket-42"]["url"].endswith("?utm_source=market&utm_medium=cpc")
    assert [i for i, _ in bad] == [3, 4]
    assert "по запросу" in bad[0][1] and "no id" in bad[1][1]


def test_a_google_rss_feed_reads_sale_prices_with_their_currency():
    good, bad = read(FIXTURES / "google.rss.xml")
    watch = good["SKU-1001"]
    assert (watch["price"], watch["oldPrice"], watch["currency"]) == (39990, 44990, "RUB")
    assert watch["categoryId"] == "watches" and watch["available"] is True
    gel = good["SKU-1002"]
    assert (gel["price"], gel["currency"], gel["available"]) == (12.5, "RUB", False)
    assert gel["name"] == 'Energy gel "Citrus" 12 x 40 g'
    assert bad == [(2, "g:availability 'maybe' is not one Google defines")]


def test_a_google_atom_feed_reads_links_from_href():
    good, bad = read(FIXTURES / "google.atom.xml")
    assert good["SKU-2001"]["url"] == "https://runners.example/p/trail-socks"
    assert good["SKU-2002"]["price"] == 6990 and good["SKU-2002"]["oldPrice"] == 7490
    assert good["SKU-2002"]["available"] is True  # preorder
    assert bad == []


@pytest.mark.parametrize("body, why", [
    (b'<?xml version="1.0"?><!DOCTYPE y [<!ENTITY a "aaaa">]><yml_catalog><shop><offers>'
     b'<offer id="1"><name>&a;</name></offer></offers></shop></yml_catalog>', "unsafe"),
    (b'<?xml version="1.0"?><!DOCTYPE y [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     b'<yml_catalog><offer id="1"><name>&x;</name></offer></yml_catalog>', "unsafe"),
    (b"<!DOCTYPE html><html><body><p>Shop</p></body></html>", "not a product feed"),
    (b"<html><body><p>Shop</p></body></html>", "not a product feed"),
    (b'{"offers": []}', "not well-formed"),
    (b"", "not well-formed"),
])
def test_what_is_not_a_safe_feed_is_refused(tmp_path, body, why):
    path = tmp_path / "feed.xml"
    path.write_bytes(body)
    with pytest.raises(FeedError, match=why):
        list(offers(str(path)))


def test_the_bare_doctype_of_older_yml_files_is_read(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="windows-1251"?>\n'
                     b'<!DOCTYPE yml_catalog SYSTEM "shops.dtd">\n<yml_catalog><shop><offers>'
                     b'<offer id="7"><name>\xcc\xff\xf7</name><price>10</price></offer>'
                     b"</offers></shop></yml_catalog>")
    good, _ = read(path)
    assert good["7"]["name"] == "Мяч"


def test_a_feed_is_read_without_holding_its_tree(tmp_path):
    path = tmp_path / "big.yml"
    offer = ('<offer id="p{i}" available="true"><url>https://s.example/p/{i}</url>'
             '<price>{i}.50</price><currencyId>RUB</currencyId><categoryId>{c}</categoryId>'
             "<picture>https://s.example/img/{i}.jpg</picture><name><![CDATA[Product {i}]]>"
             "</name><description>" + "Long text. " * 20 + "</description></offer>\n")
    with path.open("w") as f:
        f.write('<?xml version="1.0"?><yml_catalog><shop><offers>\n')
        for i in range(5_000):
            f.write(offer.format(i=i, c=i % 50))
        f.write("</offers></shop></yml_catalog>\n")
    size = path.stat().st_size
    tracemalloc.start()
    count = sum(1 for _ in offers(str(path)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 5_000
    # A tree of it would take several times the file; one offer at a time takes little.
    assert peak < size / 10, (peak, size)
