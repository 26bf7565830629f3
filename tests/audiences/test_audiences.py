"""Live interest audiences with a fake clock: entering, exits that move, fire and repeat.

The worker's tick is `audiences_worker.tick`, called as the worker would. What a user
sees is read back through the GraphQL API (triggers, audiences, audienceMembers). The
expected exit moments are computed here from the scores the API shows:
exit = now + H * log2(score / minScore).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest

from app.audiences import worker as audiences_worker
from app.core.clock import FakeClock, utc
from app.platform import Platform
from tests.support.api import Api

H = 30 * 24 * 3600  # the default half-life, seconds

CREATE = """mutation($a: AudienceInput!) { createAudience(shopId: 1, audience: $a) {
  audienceId title categoryId productId minScore size createdAt } }"""
AUDIENCES = "{ audiences(shopId: 1) { audienceId title minScore size categoryId productId } }"
MEMBERS = """query($id: ID!, $first: Int, $after: String) {
  audienceMembers(shopId: 1, audienceId: $id, first: $first, after: $after) {
    nodes { userId } pageInfo { hasNextPage endCursor } } }"""
TRIGGERS = """query($after: String) { triggers(shopId: 1, first: 500, after: $after,
  types: [AUDIENCE_ENTERED, AUDIENCE_EXITED]) {
  nodes { triggerId type userId visitorId name audienceId score firedAt properties }
  pageInfo { hasNextPage endCursor } } }"""
SCORE = """query($u: String!) { interestMap(shopId: 1, userId: $u) {
  products { productId score } categories { categoryId score } } }"""


async def create(api: Api, key: str, **audience: Any) -> dict[str, Any]:
    audience.setdefault("title", "Interested")
    return (await api.data(CREATE, {"a": audience}, key))["createAudience"]


async def track(api: Api, events: list[dict[str, Any]]) -> None:
    data = await api.data("mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
                          {"e": events})
    assert all(data["track"])


async def bulk(api: Api, key: str, events: list[dict[str, Any]]) -> None:
    """Many events through `importEvents` (the tracker's per-address limit is for browsers)."""
    for start in range(0, len(events), 100):
        data = await api.data("mutation($e: [TrackInput!]!) { importEvents(shopId: 1, "
                              "events: $e) { eventId } }", {"e": events[start:start + 100]}, key)
        assert all(data["importEvents"])


def login(visitor: str, user: str) -> dict[str, Any]:
    return {"type": "LOGIN", "context": {"shopId": 1, "visitorId": visitor}, "userId": user}


def view(visitor: str, product: str = "p1", category: str = "c1") -> dict[str, Any]:
    return {"type": "PRODUCT_VIEW", "context": {"shopId": 1, "visitorId": visitor},
            "categoryId": category, "productId": product}


async def fired(api: Api, key: str) -> list[dict[str, Any]]:
    """Every audience trigger of the shop, oldest first."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await api.data(TRIGGERS, {"after": after}, key))["triggers"]
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return out[::-1]
        after = page["pageInfo"]["endCursor"]


async def product_score(api: Api, key: str, user: str, product: str = "p1") -> float:
    data = await api.data(SCORE, {"u": user}, key)
    return next(p["score"] for p in data["interestMap"]["products"] if p["productId"] == product)


async def member_ids(api: Api, key: str, audience_id: str) -> list[str]:
    data = await api.data(MEMBERS, {"id": audience_id, "first": 500}, key)
    return [n["userId"] for n in data["audienceMembers"]["nodes"]]


async def size_of(api: Api, key: str, audience_id: str) -> int:
    found = (await api.data(AUDIENCES, key=key))["audiences"]
    return next(a["size"] for a in found if a["audienceId"] == audience_id)


def exit_moment(now: datetime, score: float, min_score: float, half_life: float = H) -> datetime:
    return now + timedelta(seconds=half_life * math.log2(score / min_score))


def at(value: str) -> datetime:
    return utc(datetime.fromisoformat(value))


@pytest.fixture
async def audience(api: Api, shop: dict[str, Any]) -> dict[str, Any]:
    return await create(api, shop["key"], productId="p1", minScore=3.0)


async def test_enter_relift_moves_the_exit_exit_at_the_computed_moment_and_enter_again(
    api: Api, shop: dict[str, Any], audience: dict[str, Any], platform: Platform,
    clock: FakeClock,
) -> None:
    key, aid = shop["key"], audience["audienceId"]
    await track(api, [login("v1", "u1"), view("v1")])
    assert await fired(api, key) == []  # a score of 2 is below 3
    await track(api, [view("v1")])
    [entered] = await fired(api, key)
    assert (entered["type"], entered["userId"], entered["audienceId"], entered["name"]) == (
        "AUDIENCE_ENTERED", "u1", aid, aid)
    assert entered["score"] == pytest.approx(4.0)
    assert await member_ids(api, key, aid) == ["u1"] and await size_of(api, key, aid) == 1
    first_exit = exit_moment(clock.now(), 4.0, 3.0)
    assert at(entered["properties"]["exitAt"]) == pytest.approx(first_exit, abs=timedelta(
        milliseconds=2))

    clock.advance(days=5)
    await track(api, [view("v1")])  # lifts the score again before the exit: the exit moves
    lifted = await product_score(api, key, "u1")
    moved = exit_moment(clock.now(), lifted, 3.0)
    assert moved > first_exit
    clock.set(first_exit + timedelta(seconds=1))
    assert await audiences_worker.tick(platform) == 0
    assert len(await fired(api, key)) == 1

    clock.set(moved - timedelta(seconds=1))
    assert await audiences_worker.tick(platform) == 0
    clock.set(moved + timedelta(milliseconds=1))
    assert await audiences_worker.tick(platform) == 1
    _, exited = await fired(api, key)
    assert (exited["type"], exited["userId"], exited["audienceId"]) == ("AUDIENCE_EXITED", "u1",
                                                                        aid)
    assert at(exited["firedAt"]) == clock.now()
    assert at(exited["properties"]["exitAt"]) == pytest.approx(moved, abs=timedelta(
        milliseconds=2))
    assert exited["score"] == pytest.approx(3.0, rel=1e-6) and exited["score"] <= 3.0
    assert await member_ids(api, key, aid) == [] and await size_of(api, key, aid) == 0
    assert await audiences_worker.tick(platform) == 0  # once

    await track(api, [view("v1")])  # back above 3: a second episode
    got = await fired(api, key)
    assert [t["type"] for t in got] == ["AUDIENCE_ENTERED", "AUDIENCE_EXITED",
                                        "AUDIENCE_ENTERED"]
    assert len({t["triggerId"] for t in got}) == 3
    assert await member_ids(api, key, aid) == ["u1"]


async def test_two_half_lives_later_the_exit_arrives_by_itself(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock
) -> None:
    """The README's example: a product view (score 2) enters an audience of minScore 0.5;
    the score halves twice, and at that moment the customer leaves with no event sent."""
    aid = (await create(api, shop["key"], productId="p1", minScore=0.5))["audienceId"]
    start = clock.now()
    await track(api, [login("v1", "u1"), view("v1")])
    clock.set(start + timedelta(days=60) - timedelta(seconds=1))
    assert await audiences_worker.tick(platform) == 0
    clock.set(start + timedelta(days=60, milliseconds=1))
    assert await audiences_worker.tick(platform) == 1
    entered, exited = await fired(api, shop["key"])
    assert entered["score"] == pytest.approx(2.0) and exited["score"] == pytest.approx(0.5)
    assert exited["audienceId"] == aid


async def test_many_customers_crossing_at_once_enter_and_leave_exactly_once(
    api: Api, shop: dict[str, Any], audience: dict[str, Any], platform: Platform,
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audiences_worker, "BATCH", 64)  # several batches in one tick
    key, aid = shop["key"], audience["audienceId"]
    users = [f"u{n:03d}" for n in range(300)]
    events = [e for n, u in enumerate(users) for e in (login(f"v{n}", u), view(f"v{n}"),
                                                      view(f"v{n}"))]
    await bulk(api, key, events)
    assert await size_of(api, key, aid) == 300
    assert sorted(await member_ids(api, key, aid)) == users
    clock.set(exit_moment(clock.now(), 4.0, 3.0) + timedelta(milliseconds=1))
    assert await audiences_worker.tick(platform) == 300
    assert await audiences_worker.tick(platform) == 0
    got = await fired(api, key)
    assert len(got) == len({t["triggerId"] for t in got}) == 600
    assert sorted(t["userId"] for t in got if t["type"] == "AUDIENCE_EXITED") == users
    assert await size_of(api, key, aid) == 0


async def test_a_category_audience_follows_the_category_score(
    api: Api, shop: dict[str, Any], clock: FakeClock
) -> None:
    aid = (await create(api, shop["key"], categoryId="c1", minScore=2.5))["audienceId"]
    await track(api, [login("v1", "u1"), view("v1", "p1"), view("v1", "p2")])  # c1: 1 + 1
    assert await fired(api, shop["key"]) == []
    await track(api, [{"type": "CATEGORY_VIEW", "context": {"shopId": 1, "visitorId": "v1"},
                       "categoryId": "c1"}])
    [entered] = await fired(api, shop["key"])
    assert entered["audienceId"] == aid and entered["score"] == pytest.approx(3.0)


async def test_anonymous_history_filed_at_login_and_imports_enter_too(
    api: Api, shop: dict[str, Any], audience: dict[str, Any], clock: FakeClock
) -> None:
    key = shop["key"]
    await track(api, [view("v1"), view("v1")])  # anonymous: no customer, no audience yet
    assert await fired(api, key) == []
    await track(api, [login("v1", "u1")])  # filing brings the views along
    then = clock.now() - timedelta(hours=1)
    await api.data("mutation($e: [TrackInput!]!) { importEvents(shopId: 1, events: $e) "
                   "{ eventId } }", {"e": [
                       {**login("v2", "u2"), "context": {"shopId": 1, "visitorId": "v2",
                                                         "occurredAt": then.isoformat()}},
                       *[{**view("v2"), "context": {"shopId": 1, "visitorId": "v2",
                                                    "occurredAt": then.isoformat()}}] * 2]},
                   key)
    assert sorted(t["userId"] for t in await fired(api, key)) == ["u1", "u2"]


async def test_customers_who_already_qualify_enter_when_the_audience_is_created(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audiences_worker, "FILL_BATCH", 7)  # bounded batches
    monkeypatch.setattr(audiences_worker, "FILL_BATCHES", 2)
    key = shop["key"]
    events = []
    for n in range(40):  # u0..u19 view twice (score 4), u20..u39 once (score 2)
        events += [login(f"v{n}", f"u{n}"), view(f"v{n}")] + ([view(f"v{n}")] if n < 20 else [])
    await bulk(api, key, events)
    aid = (await create(api, key, productId="p1", minScore=3.0))["audienceId"]
    while await audiences_worker.run_jobs(platform):  # 14 per tick: two ticks and a bit
        pass
    assert await size_of(api, key, aid) == 20
    got = await fired(api, key)
    assert sorted(t["userId"] for t in got) == sorted(f"u{n}" for n in range(20))
    assert all(t["type"] == "AUDIENCE_ENTERED" and t["score"] == pytest.approx(4.0)
               for t in got)
    clock.advance(seconds=10)  # the second pass: nothing new, nothing twice
    for _ in range(3):
        assert await audiences_worker.run_jobs(platform) == 0
    assert await platform.storage.audienceJobs.count_documents({}) == 0
    assert len(await fired(api, key)) == 20


async def test_members_page_by_user_id(
    api: Api, shop: dict[str, Any], audience: dict[str, Any]
) -> None:
    key, aid = shop["key"], audience["audienceId"]
    await track(api, [e for n in range(5) for e in (login(f"v{n}", f"u{n}"), view(f"v{n}"),
                                                   view(f"v{n}"))])
    seen, after = [], None
    while True:
        data = await api.data(MEMBERS, {"id": aid, "first": 2, "after": after}, key)
        page = data["audienceMembers"]
        seen += [n["userId"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["u0", "u1", "u2", "u3", "u4"]


async def test_a_members_page_that_ends_on_the_last_member_has_no_next_page(
    api: Api, shop: dict[str, Any], audience: dict[str, Any]
) -> None:
    key, aid = shop["key"], audience["audienceId"]
    await track(api, [e for n in range(4) for e in (login(f"v{n}", f"u{n}"), view(f"v{n}"),
                                                   view(f"v{n}"))])
    page = (await api.data(MEMBERS, {"id": aid, "first": 2}, key))["audienceMembers"]
    assert page["pageInfo"]["hasNextPage"] is True
    page = (await api.data(MEMBERS, {"id": aid, "first": 2, "after": page["pageInfo"][
        "endCursor"]}, key))["audienceMembers"]
    assert [n["userId"] for n in page["nodes"]] == ["u2", "u3"]
    assert page["pageInfo"]["hasNextPage"] is False
    page = (await api.data(MEMBERS, {"id": aid, "first": 4}, key))["audienceMembers"]
    assert len(page["nodes"]) == 4 and page["pageInfo"]["hasNextPage"] is False


async def test_forget_customer_leaves_every_audience_without_a_trigger(
    api: Api, shop: dict[str, Any], audience: dict[str, Any], platform: Platform,
    clock: FakeClock,
) -> None:
    key, aid = shop["key"], audience["audienceId"]
    other = (await create(api, key, categoryId="c1", minScore=1.0))["audienceId"]
    await track(api, [login("v1", "u1"), view("v1"), view("v1"), login("v2", "u2"),
                      view("v2"), view("v2")])
    assert len(await fired(api, key)) == 4
    await api.data('mutation { forgetCustomer(shopId: 1, userId: "u1") }', key=key)
    assert await member_ids(api, key, aid) == ["u2"] and await member_ids(api, key, other) == [
        "u2"]
    clock.advance(days=3650)
    assert await audiences_worker.tick(platform) == 2  # u2's two exits; none for u1
    assert {t["userId"] for t in await fired(api, key)} == {"u2"}


async def test_deleting_an_audience_removes_its_members_and_no_exit_fires(
    api: Api, shop: dict[str, Any], audience: dict[str, Any], platform: Platform,
    clock: FakeClock,
) -> None:
    key, aid = shop["key"], audience["audienceId"]
    await track(api, [login("v1", "u1"), view("v1"), view("v1")])
    assert await api.data("mutation($id: ID!) { deleteAudience(shopId: 1, audienceId: $id) }",
                          {"id": aid}, key) == {"deleteAudience": True}
    assert (await api.data(AUDIENCES, key=key))["audiences"] == []
    clock.advance(days=3650)
    assert await audiences_worker.tick(platform) == 0
    assert await platform.storage.memberships.count_documents({}) == 0


async def test_changing_the_half_life_keeps_scores_and_reschedules_exits(
    api: Api, shop: dict[str, Any], audience: dict[str, Any], platform: Platform,
    clock: FakeClock,
) -> None:
    key = shop["key"]
    await track(api, [login("v1", "u1"), view("v1"), view("v1")])
    clock.advance(days=10)
    before = await product_score(api, key, "u1")
    data = await api.data(
        "mutation { updateShopSettings(shopId: 1, settings: {interestHalfLifeSeconds: 86400})"
        " { settings { interestHalfLifeSeconds } } }", key=key)
    assert data["updateShopSettings"]["settings"]["interestHalfLifeSeconds"] == 86400
    assert await product_score(api, key, "u1") == pytest.approx(before, rel=1e-9)
    # From now on the score halves every day: it was about 3.17, so it reaches 3 soon.
    new_exit = exit_moment(clock.now(), before, 3.0, 86400)
    assert await audiences_worker.tick(platform) == 0  # rescheduled, not fired
    clock.set(new_exit - timedelta(seconds=1))
    assert await audiences_worker.tick(platform) == 0
    clock.set(new_exit + timedelta(milliseconds=1))
    assert await audiences_worker.tick(platform) == 1
    clock.advance(days=1)
    assert await product_score(api, key, "u1") == pytest.approx(
        before * 2 ** -((clock.now() - new_exit).total_seconds() / 86400
                        + math.log2(before / 3.0)), rel=1e-6)


async def test_a_longer_half_life_moves_exits_later(
    api: Api, shop: dict[str, Any], audience: dict[str, Any], platform: Platform,
    clock: FakeClock,
) -> None:
    key = shop["key"]
    await track(api, [login("v1", "u1"), view("v1"), view("v1")])
    old_exit = exit_moment(clock.now(), 4.0, 3.0)
    await api.data("mutation { updateShopSettings(shopId: 1, settings: "
                   "{interestHalfLifeSeconds: 5184000}) { shopId } }", key=key)
    new_exit = exit_moment(clock.now(), 4.0, 3.0, 5184000)
    clock.set(old_exit + timedelta(seconds=1))
    assert await audiences_worker.tick(platform) == 0
    clock.set(new_exit + timedelta(milliseconds=1))
    assert await audiences_worker.tick(platform) == 1


@pytest.mark.parametrize("audience_input, field", [
    ({"title": "x", "minScore": 1.0}, "categoryId"),
    ({"title": "x", "minScore": 1.0, "categoryId": "c", "productId": "p"}, "categoryId"),
    ({"title": "x", "minScore": 0.0, "productId": "p"}, "minScore"),
    ({"title": "x", "minScore": -1.0, "productId": "p"}, "minScore"),
    ({"title": " ", "minScore": 1.0, "productId": "p"}, "title"),
    ({"title": "x" * 201, "minScore": 1.0, "productId": "p"}, "title"),
    ({"title": "x", "minScore": 1.0, "productId": "p" * 129}, "productId"),
    ({"title": "x", "minScore": 1.0, "categoryId": ""}, "categoryId"),
])
async def test_bad_audience_input_is_bad_input_and_changes_nothing(
    api: Api, shop: dict[str, Any], audience_input: dict[str, Any], field: str
) -> None:
    error = await api.error(CREATE, {"a": audience_input}, shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT" and error["extensions"]["field"] == field
    assert (await api.data(AUDIENCES, key=shop["key"]))["audiences"] == []


async def test_at_most_100_audiences_per_shop(api: Api, shop: dict[str, Any]) -> None:
    for n in range(100):
        await create(api, shop["key"], productId=f"p{n}", minScore=1.0)
    error = await api.error(CREATE, {"a": {"title": "one more", "productId": "x",
                                           "minScore": 1.0}}, shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert len((await api.data(AUDIENCES, key=shop["key"]))["audiences"]) == 100


async def test_an_unknown_audience_is_not_found(api: Api, shop: dict[str, Any]) -> None:
    for query in ('mutation { deleteAudience(shopId: 1, audienceId: "nope") }',
                  '{ audienceMembers(shopId: 1, audienceId: "nope") { nodes { userId } } }'):
        error = await api.error(query, key=shop["key"])
        assert error["extensions"]["code"] == "NOT_FOUND"


async def test_another_shops_key_reaches_no_audience(api: Api, shop: dict[str, Any],
                                                     audience: dict[str, Any]) -> None:
    other = (await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }'))[
        "createShop"]["apiKey"]
    error = await api.error(AUDIENCES, key=other)
    assert error["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("value", [0, -5])
async def test_a_half_life_below_one_second_is_bad_input(
    api: Api, shop: dict[str, Any], value: int
) -> None:
    error = await api.error("mutation($v: Int!) { updateShopSettings(shopId: 1, settings: "
                            "{interestHalfLifeSeconds: $v}) { shopId } }", {"v": value},
                            shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
