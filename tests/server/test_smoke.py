"""The shortest path a newcomer takes: track an event, read it back."""

from tests.support.api import Api


async def test_tracked_event_reads_back(api: Api, shop: dict) -> None:
    tracked = await api.data(
        "mutation($c: TrackContext!) { viewProduct(context: $c, categoryId: \"shoes\", "
        "productId: \"p1\") { eventId duplicate newSession userId } }",
        {"c": {"shopId": 1, "visitorId": "v1", "eventId": "e1"}},
    )
    assert tracked["viewProduct"] == {"eventId": "e1", "duplicate": False, "newSession": True,
                                      "userId": None}
    events = await api.data("{ events(shopId: 1) { nodes { eventId type productId } } }",
                            key=shop["key"])
    assert events["events"]["nodes"] == [{"eventId": "e1", "type": "PRODUCT_VIEW",
                                          "productId": "p1"}]
