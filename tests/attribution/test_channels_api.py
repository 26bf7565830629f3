"""Session channels over real HTTP: each rule of the contract's order, the precedence
cases, utm and the referrer's host, and a customer's first and last touch."""

from __future__ import annotations

import pytest

from tests.attribution.helpers import (
    CHANNELS,
    SHOP_URL,
    buy,
    channels,
    fire_section,
    land,
    sessions,
    track,
    triggers,
)
from tests.support.api import Api

DOMAIN = "mutation { addEventSource(shopId: 1, sourceId: \"site2\", name: \"Shop\", " \
    "domain: \"shop.example.ru\") { shopId } }"


@pytest.fixture
async def shop_with_domain(api: Api, shop: dict) -> dict:
    await api.data(DOMAIN, key=shop["key"])
    return shop


async def a_trigger_link(api: Api, key: str) -> tuple[str, str]:
    await fire_section(api, "fired-for")
    [trigger] = [t for t in await triggers(api, key) if t["type"] == "SECTION_VISITED"]
    return trigger["triggerId"], trigger["link"]


async def channel_of(api: Api, key: str, visitor: str, url: str | None,
                     referrer: str | None) -> dict:
    await land(api, visitor, url, referrer)
    [session] = await sessions(api, key, visitor)
    return session


CASES = [
    ("email", f"{SHOP_URL}/?utm_source=esputnik&utm_medium=email&utm_campaign=may",
     "https://www.google.com/", "EMAIL"),
    ("paid-click-id", f"{SHOP_URL}/p/1?yclid=123", "https://yandex.ru/", "PAID_SEARCH"),
    ("paid-over-yandex", f"{SHOP_URL}/?utm_source=yandex&utm_medium=cpc",
     "https://yandex.ru/search/?text=boots", "PAID_SEARCH"),
    ("organic", f"{SHOP_URL}/", "https://yandex.ru/search/?text=boots", "ORGANIC_SEARCH"),
    ("social", f"{SHOP_URL}/", "https://t.me/shopnews/12", "SOCIAL"),
    ("dzen", f"{SHOP_URL}/", "https://dzen.ru/a/xyz", "SOCIAL"),
    ("webmail", f"{SHOP_URL}/", "https://e.mail.ru/inbox/", "EMAIL"),
    ("referral", f"{SHOP_URL}/", "https://habr.com/ru/articles/1/", "REFERRAL"),
    ("own-domain", f"{SHOP_URL}/p/2", "https://www.shop.example.ru/catalog", "DIRECT"),
    ("direct", f"{SHOP_URL}/", None, "DIRECT"),
]


@pytest.mark.parametrize(("visitor", "url", "referrer", "expected"), CASES)
async def test_a_session_gets_the_channel_of_the_first_matching_rule(
        api: Api, shop_with_domain: dict, visitor: str, url: str, referrer: str | None,
        expected: str) -> None:
    session = await channel_of(api, shop_with_domain["key"], visitor, url, referrer)
    assert session["channel"] == expected
    assert session["triggerId"] is None


async def test_a_trigger_link_with_a_google_referrer_is_a_trigger_session(
        api: Api, shop_with_domain: dict) -> None:
    key = shop_with_domain["key"]
    trigger_id, link = await a_trigger_link(api, key)
    assert link == f"smc_tid={trigger_id}"
    session = await channel_of(api, key, "back", f"{SHOP_URL}/cart?utm_medium=email&{link}",
                               "https://www.google.com/")
    assert (session["channel"], session["triggerId"]) == ("TRIGGER", trigger_id)
    assert session["utm"]["medium"] == "email"
    assert session["referrerHost"] == "www.google.com"


async def test_a_link_to_a_trigger_the_shop_does_not_have_is_no_trigger_session(
        api: Api, shop_with_domain: dict) -> None:
    session = await channel_of(api, shop_with_domain["key"], "guess",
                               f"{SHOP_URL}/?smc_tid=1:made-up:SECTION_VISITED",
                               "https://www.google.com/")
    assert (session["channel"], session["triggerId"]) == ("ORGANIC_SEARCH", None)


async def test_utm_and_the_referrer_host_are_kept(api: Api, shop_with_domain: dict) -> None:
    session = await channel_of(
        api, shop_with_domain["key"], "utm",
        f"{SHOP_URL}/?utm_source=vk&utm_medium=social&utm_campaign=spring&utm_term=boots"
        "&utm_content=post1", "https://m.vk.com/wall-1_2")
    assert session["channel"] == "SOCIAL"
    assert session["utm"] == {"source": "vk", "medium": "social", "campaign": "spring",
                              "term": "boots", "content": "post1"}
    assert session["referrerHost"] == "m.vk.com"


async def test_a_customer_has_a_first_and_a_last_touch(api: Api, shop_with_domain: dict,
                                                       clock) -> None:
    key = shop_with_domain["key"]
    await land(api, "dev1", f"{SHOP_URL}/", "https://www.google.com/", user="alice")
    clock.advance(hours=3)
    await land(api, "dev1", f"{SHOP_URL}/?utm_medium=newsletter", None)
    data = await api.data('{ customer(shopId: 1, userId: "alice") { '
                          "firstTouch { channel referrerHost sessionId at } "
                          "lastTouch { channel utm { medium } sessionId } } }", key=key)
    first, last = data["customer"]["firstTouch"], data["customer"]["lastTouch"]
    assert first["channel"] == "ORGANIC_SEARCH" and first["referrerHost"] == "www.google.com"
    assert last["channel"] == "EMAIL" and last["utm"] == {"medium": "newsletter"}
    assert first["sessionId"] != last["sessionId"]


async def test_only_the_first_event_of_a_session_decides_its_channel(
        api: Api, shop_with_domain: dict) -> None:
    key = shop_with_domain["key"]
    await land(api, "one", f"{SHOP_URL}/", "https://ok.ru/group/1")
    await track(api, "PRODUCT_VIEW", "one", productId="p1", categoryId="c1",
                url=f"{SHOP_URL}/p/1?gclid=x", referrer="https://www.google.com/")
    [session] = await sessions(api, key, "one")
    assert session["channel"] == "SOCIAL"


async def test_channels_counts_sessions_visitors_orders_and_revenue_per_channel(
        api: Api, shop_with_domain: dict, clock) -> None:
    key = shop_with_domain["key"]
    await land(api, "s1", f"{SHOP_URL}/", "https://www.google.com/")
    await land(api, "s2", f"{SHOP_URL}/", "https://www.bing.com/")
    await buy(api, "s2", "o-s2", price=15.0, quantity=2)
    clock.advance(hours=1)
    await land(api, "s1", f"{SHOP_URL}/?utm_medium=newsletter", None)  # s1 again, by e-mail
    await land(api, "d1", f"{SHOP_URL}/", None)
    got = await channels(api, key, "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z")
    assert list(got) == ["DIRECT", "ORGANIC_SEARCH", "EMAIL"]  # the enum's order
    assert got["ORGANIC_SEARCH"] == {"channel": "ORGANIC_SEARCH", "sessions": 2, "visitors": 2,
                                     "orders": 1, "revenue": 30.0}
    assert (got["EMAIL"]["sessions"], got["DIRECT"]["sessions"]) == (1, 1)
    body = await api.post(CHANNELS, {"f": "2026-03-02T00:00:00Z", "t": "2026-03-01T00:00:00Z"},
                          key=key)
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
