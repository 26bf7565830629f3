"""The tracker's fast path answers exactly what GraphQL would.

Generated requests (hypothesis) go to two servers on two fresh stores that share
one fake clock: one answers `track` on the fast path, the other only through
Strawberry. Their answers must be the same bytes with the same HTTP status, and
their stores must hold the same documents, request after request.

Chance alone would leave a field's wrong type untried in some run, so before the
generated requests every Int, Float, String and DateTime the fast path coerces gets
each value of a wrong type (Booleans first: in Python `True` is an int) on every run,
through the same comparison (issue 28, rule 6).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import events as domain_events
from app.core.clock import FakeClock
from app.platform import Platform, open_store
from app.server import fastpath
from app.server.asgi import create_app
from tests.support.api import ADMIN_KEY, make_settings, running

TRACKER = fastpath.TRACKER_DOCUMENT
FULL = ("mutation Send($events: [TrackInput!]!, $at: DateTime!) { track(events: $events, "
        "sentAt: $at) { id: eventId duplicate sessionId newSession userId __typename } }")
NO_SENT_AT = "mutation($e:[TrackInput!]!){track(events:$e){eventId userId}}"
DOCUMENTS = [TRACKER, FULL, NO_SENT_AT]
UNLIMITED = {"rate_tracker_per_ip": 1e9, "burst_tracker_per_ip": 10**9,
             "rate_tracker_per_visitor": 1e9, "burst_tracker_per_visitor": 10**9}
NAMES = [t.value for t in domain_events.EventType]
COLLECTIONS = ["visitors", "customers", "sessions", "events", "carts", "orders", "interests",
               "triggers"]


class Pair:
    """Two servers, the fast path on and off, driven on one event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
        self.taken: Counter[str] = Counter()
        self._stack: list[Any] = []
        self.fast, self.slow = self.loop.run_until_complete(self._start())

    async def _start(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        clients = []
        for name, on in (("fast", True), ("slow", False)):
            config = make_settings(mongodb_db=f"fastpath_{name}", fast_path=on, **UNLIMITED)
            storage = open_store(config.mongodb_url, config.mongodb_db)
            await storage.drop()
            platform = await Platform.start(config, clock=self.clock, storage=storage)
            app = create_app(config, platform=platform, run_workers=False)
            served = running(app)
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=await served.__aenter__()),
                                     base_url="http://t")
            self._stack.append((served, http, platform))
            for shop_id in (1, 2):
                await http.post("/graphql", headers={"authorization": f"Bearer {ADMIN_KEY}"},
                                json={"query": "mutation($i:Int){createShop(name:\"S\","
                                      "shopId:$i){apiKey}}", "variables": {"i": shop_id}})
            clients.append(http)
        return clients[0], clients[1]

    def stores(self) -> tuple[Platform, Platform]:
        return self._stack[0][2], self._stack[1][2]

    def close(self) -> None:
        async def stop() -> None:
            for served, http, platform in self._stack:
                await http.aclose()
                await served.__aexit__(None, None, None)
                await platform.storage.drop()
                await platform.stop()

        self.loop.run_until_complete(stop())
        self.loop.close()


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    p = Pair()
    original = fastpath.run

    async def counted(*args: Any, **kwargs: Any) -> Any:
        p.taken["fast"] += 1
        return await original(*args, **kwargs)

    fastpath.run = counted  # type: ignore[assignment]
    try:
        yield p
    finally:
        fastpath.run = original  # type: ignore[assignment]
        p.close()


def same_ids(start: int) -> Any:
    """uuid4 for events without an id: the same sequence on both servers."""
    counter = itertools.count(start)
    return lambda: uuid.UUID(int=next(counter))


# -- generated requests ------------------------------------------------------------

texts = st.one_of(st.sampled_from(["c1", "p1", "home", "promo", "o-1", " ", "a.b$c"]),
                  st.text(max_size=6), st.just("y" * 300))
numbers = st.one_of(st.integers(-3, 5), st.sampled_from([2**31 - 1, 2**31, 10**20, -(2**31)]),
                    st.floats(allow_nan=False, allow_infinity=False, width=32), st.booleans())
odd = st.one_of(st.none(), numbers, texts, st.integers(0, 10), st.lists(st.integers(), max_size=2),
                st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2))


def maybe(strategy: Any) -> Any:
    """Mostly `strategy`, now and then a value of another type (1 in 30)."""
    return st.integers(0, 29).flatmap(lambda n: odd if n == 0 else strategy)


offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)),
                           timezone(timedelta(hours=-5, minutes=-30))])
written = st.tuples(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), offsets,
    st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]), st.booleans(),
).map(lambda t: (lambda text: text.replace("+00:00", "Z") if t[3] else text)(
    t[0].replace(tzinfo=t[1]).isoformat(timespec=t[2])))
dates = maybe(st.one_of(
    st.sampled_from(["2026-03-01T11:59:00Z", "2026-03-01T12:30:00+02:00",
                     "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z", "2026-02-30T00:00:00Z",
                     "yesterday", "2026-03-01", "2026-03-01T12:00:00.1234567Z",
                     "2026-03-01T12:00:00.12Z", "2026-03-01 12:00:00Z", "20260301T120000Z"]),
    written))


ids = st.integers(0, 29).flatmap(lambda n: st.sampled_from(["", "bad id!", "x" * 65]) if n == 0
                                 else st.sampled_from(["v1", "v2", "visitor_3", "v4", "v5"]))


@st.composite
def contexts(draw: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"shopId": draw(maybe(st.sampled_from([1] * 6 + [2] * 3 + [99]))),
                           "visitorId": draw(ids)}
    optional = {"eventId": maybe(st.one_of(st.uuids().map(lambda u: f"e{u.hex[:8]}"),
                                           st.sampled_from(["e1", "e2", "bad id"]))),
                "occurredAt": dates, "sentAt": dates, "url": maybe(texts),
                "referrer": maybe(texts), "sourceId": maybe(st.sampled_from(["", "site", "x"])),
                "identityToken": st.sampled_from([None, None, None, "not.a.token"])}
    for name in draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=3)):
        ctx[name] = draw(optional[name])
    if draw(st.integers(0, 60)) == 0:
        ctx["unknownKey"] = 1
    if draw(st.integers(0, 30)) == 0:
        del ctx[draw(st.sampled_from(["shopId", "visitorId"]))]
    return ctx


@st.composite
def items(draw: Any) -> Any:
    if draw(st.integers(0, 40)) == 0:
        return draw(odd)
    item: dict[str, Any] = {
        "type": draw(maybe(st.sampled_from(NAMES))),
        "context": draw(contexts()),
    }
    names = maybe(st.sampled_from(["c1", "c2", "p1", "p2", "home", "promo"]))
    fields = {"categoryId": names, "productId": names, "pageName": names,
              "userId": maybe(st.sampled_from(["u1", "u2"])), "userHash": maybe(texts),
              "quantity": maybe(st.integers(-1, 1001)), "price": maybe(numbers),
              "orderId": maybe(st.sampled_from(["o1", "o2"])), "eventName": names,
              "properties": maybe(st.dictionaries(st.text(max_size=3), odd, max_size=3))}
    kind = item["type"] if item["type"] in NAMES else "VISIT"
    needed = [domain_events.CAMEL[n] for n in domain_events.REQUIRED[domain_events.EventType[kind]]]
    for name in needed + draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=2)):
        if name in needed and draw(st.integers(0, 19)) == 0:
            continue  # a required field missing, now and then
        item[name] = draw(fields[name])
    if kind == "CART_ADD":
        for name in draw(st.lists(st.sampled_from(["price", "quantity"]), unique=True)):
            item[name] = draw(fields[name])
    if draw(st.integers(0, 40)) == 0:
        item["extra"] = True
    return item


@st.composite
def bodies(draw: Any) -> tuple[dict[str, Any], str]:
    document = draw(st.sampled_from(DOCUMENTS))
    batch = draw(maybe(st.lists(items(), max_size=4)))
    variables: dict[str, Any] = {}
    if document == FULL:
        variables = {"events": batch, "at": draw(maybe(dates))}
    elif document == TRACKER:
        variables = {"e": batch}
        if draw(st.booleans()):
            variables["s"] = draw(maybe(dates))
    else:
        variables = {"e": batch}
    if draw(st.integers(0, 20)) == 0:
        variables["stray"] = 1
    body: dict[str, Any] = {"query": document, "variables": variables}
    if document == FULL and draw(st.booleans()):
        body["operationName"] = draw(st.sampled_from(["Send", "Other"]))
    if document == TRACKER and draw(st.booleans()):  # a persisted query, by its hash
        del body["query"]
        body["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(
            TRACKER.encode()).hexdigest()}}
    content_type = draw(st.sampled_from(["application/json", "text/plain"]))
    return body, content_type


# -- the comparison ----------------------------------------------------------------


async def snapshot(platform: Platform) -> dict[str, list[str]]:
    """Every document, as text: 5 and 5.0 differ here (they would in a reader's JSON)."""
    out = {}
    for name in COLLECTIONS:
        docs = await getattr(platform.storage, name).raw.find({}).to_list(None)
        out[name] = sorted(json.dumps(d, default=repr, sort_keys=True) for d in docs)
    return out


async def send_both(pair: Pair, body: dict[str, Any], content_type: str,
                    monkeypatch: pytest.MonkeyPatch) -> tuple[httpx.Response, httpx.Response]:
    raw = json.dumps(body)
    pair.taken["requests"] += 1
    answers = []
    for http in (pair.fast, pair.slow):
        monkeypatch.setattr(domain_events.uuid, "uuid4", same_ids(1000 * pair.taken["requests"]))
        answers.append(await http.post("/graphql", content=raw,
                                       headers={"content-type": content_type}))
    return answers[0], answers[1]


def compare(pair: Pair, body: dict[str, Any], content_type: str,
            monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    """Send to both servers: the same status, bytes and stored documents; the answer."""
    fast, slow = pair.loop.run_until_complete(send_both(pair, body, content_type, monkeypatch))
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content), body
    assert fast.headers["content-type"] == slow.headers["content-type"]
    one, two = pair.stores()
    assert pair.loop.run_until_complete(snapshot(one)) == \
        pair.loop.run_until_complete(snapshot(two)), body
    return fast


# -- every scalar given a value of a wrong type, on every run --------------------------

WRONG = {  # what graphql-core refuses for each scalar, Booleans first (bool is an int in Python)
    "Int": [True, False, 1.5, "1", 2**31, [1], {"a": 1}],
    "Float": [True, False, "1.5", [1.0], {"a": 1.0}],
    "String": [True, False, 1, 1.5, ["a"], {"a": "b"}],
    "DateTime": [True, 1, 1.5, ["2026-03-01T12:00:00Z"]],
}
KINDS = {fastpath._int: "Int", fastpath._float: "Float", fastpath._string: "String",
         fastpath._datetime: "DateTime"}  # properties is JSON: any value is one
SCALARS = [(where, name, KINDS[coerce])
           for where, spec in (("event", fastpath.INPUT_FIELDS),
                               ("context", fastpath.CONTEXT_FIELDS))
           for name, (_, coerce) in sorted(spec.items()) if coerce in KINDS] + \
    [("sentAt", "s", "DateTime")]
CASES = [(where, name, value) for where, name, kind in SCALARS for value in WRONG[kind]]


def cart_add(event_id: str, **changes: Any) -> dict[str, Any]:
    """A valid cart add on the tracker's document, with one field changed."""
    context = {"shopId": 1, "visitorId": "v-types", "eventId": event_id,
               **changes.pop("context", {})}
    event = {"type": "CART_ADD", "categoryId": "c1", "productId": "p1", "quantity": 2,
             "price": 2.5, "context": context, **changes}
    return {"query": TRACKER, "variables": {"e": [event]}}


def test_the_wrong_type_sweep_covers_every_int_float_and_string() -> None:
    kinds = {kind for *_, kind in SCALARS}
    assert {"Int", "Float", "String"} <= kinds
    assert {("context", "shopId"), ("event", "quantity"), ("event", "price"),
            ("context", "visitorId")} <= {(w, n) for w, n, _ in SCALARS}
    assert all(v in WRONG[k] for k in ("Int", "Float", "String") for v in (True, False))


def test_a_boolean_where_an_int_is_expected_is_refused_exactly_as_graphql_refuses_it(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = pair.taken["fast"]
    compare(pair, cart_add("bool-ok"), "text/plain", monkeypatch)
    assert pair.taken["fast"] == before + 1  # the valid request takes the fast path
    for body in (cart_add("bool-shop", context={"shopId": True}),
                 cart_add("bool-quantity", quantity=False)):
        answer = compare(pair, body, "text/plain", monkeypatch).json()
        assert answer["data"] is None, answer
        assert "Int cannot represent non-integer value" in answer["errors"][0]["message"]
    assert pair.taken["fast"] == before + 1  # ... and the Booleans never do


@pytest.mark.parametrize("where,name,value", CASES, ids=[f"{w}.{n}={v!r}" for w, n, v in CASES])
def test_every_scalar_given_a_value_of_a_wrong_type_answers_as_graphql_does(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, where: str, name: str, value: Any
) -> None:
    event_id = f"wrong-{pair.taken['requests']}"
    if where == "context":
        body = cart_add(event_id, context={name: value})
    elif where == "event":
        body = cart_add(event_id, **{name: value})
    else:
        body = cart_add(event_id)
        body["variables"][name] = value
    answer = compare(pair, body, "application/json", monkeypatch).json()
    assert answer.get("errors"), answer  # refused, on both paths alike


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=bodies(), advance=st.integers(0, 4000))
def test_fast_and_graphql_paths_answer_and_store_the_same(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, request: tuple[dict[str, Any], str],
    advance: int,
) -> None:
    body, content_type = request
    pair.clock.advance(seconds=advance)
    compare(pair, body, content_type, monkeypatch)


def test_both_paths_were_exercised(pair: Pair) -> None:
    """Runs after the generated cases: a comparison that never took the fast path proves
    nothing, nor one that never fell back."""
    stored = pair.loop.run_until_complete(pair.stores()[0].storage.events.raw.count_documents({}))
    assert pair.taken["fast"] >= 50, pair.taken
    assert pair.taken["requests"] - pair.taken["fast"] >= 50, pair.taken  # fell back
    assert stored >= 50, (stored, pair.taken)


def test_the_tracker_sends_the_document_the_fast_path_knows() -> None:
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "tracker_js" / "src" / "tracker.js")
    assert f"'{TRACKER}'" in source.read_text()
