"""GET /recommendations for storefront widgets: no key, no customer data, cached, limited."""

from __future__ import annotations

from app.access import Limiter
from app.backends.buckets.memory import MemoryBuckets
from tests.recommendations.shopping import catalog, folded, ids, recs, view
from tests.support.api import Api

ORIGIN = "https://shop.example"


async def get(api: Api, **params):
    await folded()
    return await api.http.get("/recommendations", params={"shopId": 1, **params},
                              headers={"origin": ORIGIN})


async def test_it_answers_without_a_key_what_the_query_answers(api: Api, shop: dict,
                                                               platform) -> None:
    await view(api, "s1", "a", "b", "c", user="ann")
    await view(api, "s2", "a", "b")
    await catalog(platform, {"productId": "b", "imageUrl": "https://shop.example/b.jpg"})
    r = await get(api, strategy="ALSO_VIEWED", productId="a", limit=5)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=60"
    assert r.headers["access-control-allow-origin"] == ORIGIN
    body = r.json()
    assert ids(body) == ids(await recs(api, shop["key"], "ALSO_VIEWED", productId="a", limit=5))
    assert ids(body) == ["b", "c"]
    assert body[0]["product"]["name"] == "B"
    assert body[0]["product"]["imageUrl"] == "https://shop.example/b.jpg"
    assert body[1]["product"] is None  # the catalog does not have it


async def test_it_gives_no_customer_data(api: Api, shop: dict, platform) -> None:
    await view(api, "s1", "a", "b", user="ann@example.com")
    await catalog(platform, {"productId": "b"})
    r = await get(api, strategy="FOR_YOU", visitorId="s1")
    assert r.status_code == 200
    assert "ann" not in r.text and "s1" not in r.text
    for rec in r.json():
        assert set(rec) == {"productId", "score", "product"}
        assert rec["product"] is None or "shopId" not in rec["product"]
    refused = await get(api, strategy="FOR_YOU", userId="ann@example.com")
    assert refused.status_code == 400  # a user id is not a storefront's to ask with


async def test_bad_requests_are_refused_with_a_code(api: Api, shop: dict, platform) -> None:
    for params, status, code in [
        ({"strategy": "NOPE"}, 400, "BAD_INPUT"),
        ({"strategy": "POPULAR", "limit": "0"}, 400, "BAD_INPUT"),
        ({"strategy": "POPULAR", "limit": "x"}, 400, "BAD_INPUT"),
        ({"strategy": "ALSO_VIEWED"}, 400, "BAD_INPUT"),
        ({"strategy": "POPULAR", "productId": "p" * 500}, 400, "BAD_INPUT"),
        ({"strategy": "POPULAR", "shopId": "99"}, 400, "BAD_INPUT"),  # as the tracker says
    ]:
        r = await api.http.get("/recommendations", params={"shopId": 1, **params})
        assert r.status_code == status, params
        assert r.json()["errors"][0]["extensions"]["code"] == code
        assert r.headers["cache-control"] == "no-store"
    await api.admin('mutation { updateShopSettings(shopId: 1, settings: '
                    '{allowedOrigins: ["https://mine.example"]}) { shopId } }')
    r = await get(api, strategy="POPULAR")
    assert r.status_code == 403


async def test_it_is_rate_limited_like_the_tracker(api: Api, shop: dict, platform) -> None:
    platform.settings = platform.settings.with_(rate_tracker_per_ip=0.001,
                                                burst_tracker_per_ip=3)
    platform.limiter = Limiter(platform.settings, MemoryBuckets())
    statuses = [(await get(api, strategy="POPULAR")).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    r = await get(api, strategy="POPULAR", visitorId="v")
    assert r.status_code == 429
    assert r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_the_widget_script_is_served_apart_from_the_tracker(api: Api) -> None:
    r = await api.http.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert "smcWidget" in r.text
    assert r.headers["access-control-allow-origin"] == "*"
    tracker = await api.http.get("/tracker.js")
    assert "smcWidget" not in tracker.text


async def test_the_co_occurrence_kept_names_no_visitor_or_customer(api: Api, shop: dict,
                                                                   platform) -> None:
    await view(api, "visitor-secret", "a", "b", user="ann@example.com")
    await folded()
    docs = await platform.storage.cooccurrence.find({"shopId": 1}).to_list(None)
    assert len(docs) == 2
    assert "visitor-secret" not in repr(docs) and "ann@example.com" not in repr(docs)
