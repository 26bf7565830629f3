"""Generated garbage through every entry of a real server process: never a 500, never
INTERNAL, never a traceback (or an ERROR) in its log, and a batch's valid items stored.

hypothesis builds JSON *texts* (not values, so that it can write what no encoder
would: numbers of thousands of digits, NaN, Infinity, 1e999, lone surrogates as
`\\ud800`, nesting thousands deep) and puts them where a client can: a POST body
(JSON and text/plain), the tracker's batch on the fast path and on the general
path, GET's `?query=&variables=`, Int literals in a document, WebSocket frames on
both protocols (before and after the key), and the query strings and headers of
the public GET endpoints.

A tracker batch mixes valid events with items whose types are right but whose
text can never be stored or is out of bounds: those are refused at their index
and every valid item is stored (sent again, each is a duplicate). Items of the
wrong type may fail the whole request, as GraphQL's coercion does, but only as
BAD_INPUT.

The run is bounded and seeded (BOUNDARY_EXAMPLES per entry, BOUNDARY_SEED).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.server.fastpath import TRACKER_DOCUMENT
from tests.support.servers import ServerProcess

EXAMPLES = int(os.environ.get("BOUNDARY_EXAMPLES", "40"))
SEED = int(os.environ.get("BOUNDARY_SEED", "20260322"))
ADMIN_KEY = "boundary-admin-key"
UNLIMITED = {name: "1000000" for name in (
    "TRACKER_RATE_PER_IP", "TRACKER_BURST_PER_IP", "TRACKER_RATE_PER_VISITOR",
    "TRACKER_BURST_PER_VISITOR", "TRACKER_RATE_PER_KEY", "TRACKER_BURST_PER_KEY",
    "TRACKER_AUTH_FAILURE_RATE", "TRACKER_AUTH_FAILURE_BURST")}
SLOW_DOCUMENT = TRACKER_DOCUMENT[:-1] + " __typename}"  # the general path's
PUBLIC_GETS = ["/tracker.js", "/demo", "/dashboard", "/dashboard.js", "/dashboard.css",
               "/healthz", "/graphql"]
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
CHECK = settings(max_examples=EXAMPLES, deadline=None, database=None,
                 suppress_health_check=list(HealthCheck))

# -- JSON texts ----------------------------------------------------------------------------

NASTY_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000, "-" + "9" * 4400,
                 "2147483648", "-2147483649", "1e-999", "0.0000001", "1" * 1001]
NASTY_STRINGS = ['"\\ud800"', '"a\\udfffb"', '"\\udc00\\ud800"', '"\\u0000"', '"\\n\\t"',
                 json.dumps("é" * 200), json.dumps("x" * 5000)]
nasty = st.sampled_from(NASTY_NUMBERS + NASTY_STRINGS)
scalars = st.one_of(  # the nasty ones first: hypothesis draws early branches more often
    nasty, st.sampled_from(["null", "true", "false", "0", "-1"]),
    st.integers().map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=20).map(json.dumps))
deep = st.integers(min_value=50, max_value=20_000).map(lambda n: "[" * n + "]" * n)


def _containers(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    keys = st.one_of(st.text(max_size=8).map(json.dumps), st.sampled_from(NASTY_STRINGS))
    return st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(keys, inner), max_size=4).map(
            lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}"))


values = st.one_of(nasty, deep, st.recursive(scalars, _containers, max_leaves=12))
not_json = st.sampled_from(["", "{", "nope", "\x00", "{'a': 1}", '{"a": 1,}', "\ufeff{}"])
texts = st.one_of(values, not_json)

# -- tracker batches -----------------------------------------------------------------------

TEXT_FIELDS = ["pageName", "categoryId", "productId", "userId", "orderId", "eventName",
               "userHash"]
CONTEXT_TEXT = ["url", "referrer", "sourceId", "identityToken"]
# Text with no UTF-8 form: refused wherever it is, and only its item with it.
unstorable = st.sampled_from(["\ud800", "a\udfffb", "\udc00", "\udbff\udbff", "é\ud800é"])


def valid_event() -> dict[str, Any]:
    return {"type": "VISIT", "context": {"shopId": 1, "visitorId": "v-" + uuid.uuid4().hex[:8],
                                         "eventId": "e-" + uuid.uuid4().hex}}


@st.composite
def refused_items(draw: st.DrawFn) -> dict[str, Any]:
    """Right types, values the pipeline refuses: this item alone fails."""
    item = {"type": "CUSTOM", "eventName": "n",
            "context": {"shopId": 1, "visitorId": "v-bad"}}
    where = draw(st.sampled_from(["field", "context", "properties"]))
    bad = draw(unstorable)
    if where == "field":
        item[draw(st.sampled_from(TEXT_FIELDS))] = bad
    elif where == "context":
        item["context"][draw(st.sampled_from(CONTEXT_TEXT))] = bad
    else:
        item["properties"] = draw(st.sampled_from([{"k": bad}, {bad: 1}, [bad], bad]))
    if "userId" in item or "userHash" in item:
        item["type"] = "LOGIN"
        item.setdefault("userId", "u1")
    return item


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int]]:
    """A batch of valid and refused items, and the indexes of the valid ones."""
    kinds = draw(st.lists(st.booleans(), min_size=1, max_size=6))
    items = [valid_event() if ok else draw(refused_items()) for ok in kinds]
    return items, [i for i, ok in enumerate(kinds) if ok]


# -- the server ----------------------------------------------------------------------------


class Watched:
    def __init__(self, process: ServerProcess, key: str) -> None:
        self.process = process
        self.key = key
        self.http = httpx.Client(base_url=process.url, timeout=30)
        self.seen = len(process.output)

    def new_log(self) -> str:
        output = self.process.output
        new, self.seen = output[self.seen:], len(output)
        return new

    def barrier(self) -> None:
        """Until a request sent now is in the access log: what the server logged about the
        ones before (a WebSocket handler ends after its client has gone) is in it too."""
        mark = uuid.uuid4().hex
        self.http.get("/healthz", params={"barrier": mark})
        end = time.monotonic() + 10
        while mark not in self.process.output and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.05)

    def assert_log_clean(self, what: object) -> None:
        """No traceback and no ERROR line (the access log may quote anything a client sent,
        so lines are judged by how they begin)."""
        new = self.new_log()
        bad = [line for line in new.splitlines() if line.startswith(("ERROR", "Traceback"))]
        assert not bad, f"{what!r} logged:\n{new[-3000:]}"


@pytest.fixture(scope="module")
def server() -> Iterator[Watched]:
    env = {**UNLIMITED, "TRACKER_ADMIN_KEY": ADMIN_KEY, "TRACKER_SECRET": "boundary-secret",
           "TRACKER_MONGODB_URL": "mongomock://", "TRACKER_REDIS_URL": "memory://",
           "TRACKER_DEMO_SHOP": "0", "PYTHONUNBUFFERED": "1"}
    with ServerProcess(log_level="info", **env) as process:
        created = httpx.post(f"{process.url}/graphql", headers={
            "authorization": f"Bearer {ADMIN_KEY}"}, json={
            "query": 'mutation { createShop(name: "B", shopId: 1) { apiKey } }'}).json()
        watched = Watched(process, created["data"]["createShop"]["apiKey"])
        yield watched
        watched.barrier()
        watched.http.close()
        whole = process.output  # a last look, whatever test was running when it was logged
        assert "Traceback" not in whole and "\nERROR" not in whole, whole[-3000:]


def answered(response: httpx.Response, what: object) -> dict[str, Any] | None:
    """The GraphQL answer, checked: below 500, and no error INTERNAL or without a code."""
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    if "json" not in response.headers.get("content-type", ""):
        return None
    body = response.json()
    for error in body.get("errors") or ():
        code = (error.get("extensions") or {}).get("code")
        assert code not in (None, "INTERNAL"), (what, error)
    return body


# -- the entries ---------------------------------------------------------------------------


@seed(SEED)
@CHECK
@given(text=texts, content_type=st.sampled_from(["application/json", "text/plain"]),
       where=st.sampled_from(["body", "variables", "tracker events", "query"]))
def test_post_bodies_of_any_json_text(server: Watched, text: str, content_type: str,
                                      where: str) -> None:
    body = {
        "body": text,
        "variables": '{"query": "{ __typename }", "variables": ' + text + "}",
        "tracker events": '{"query": ' + json.dumps(TRACKER_DOCUMENT) + ', "variables": '
                          '{"e": ' + text + "}}",
        "query": '{"query": ' + text + "}",
    }[where]
    response = server.http.post("/graphql", content=body.encode("utf-8", "surrogatepass"),
                                headers={"content-type": content_type})
    answered(response, body[:200])
    server.assert_log_clean(body[:200])


@seed(SEED)
@CHECK
@given(batch=batches(), document=st.sampled_from([TRACKER_DOCUMENT, SLOW_DOCUMENT]),
       content_type=st.sampled_from(["application/json", "text/plain"]))
def test_a_batch_applies_its_valid_items_whatever_the_others_hold(
        server: Watched, batch: tuple[list[dict[str, Any]], list[int]], document: str,
        content_type: str) -> None:
    items, valid = batch
    text = json.dumps({"query": document, "variables": {"e": items}})  # \ud800 escaped
    body = answered(server.http.post("/graphql", content=text.encode(),
                                     headers={"content-type": content_type}), items)
    assert body is not None and body["data"] is not None, body
    refused = {e["path"][1] for e in body.get("errors") or ()}
    assert refused == set(range(len(items))) - set(valid), body
    again = json.dumps({"query": TRACKER_DOCUMENT.replace("{eventId}", "{duplicate}"),
                        "variables": {"e": [items[i] for i in valid]}})
    if valid:
        stored = server.http.post("/graphql", content=again.encode(),
                                  headers={"content-type": "application/json"}).json()
        assert [r["duplicate"] for r in stored["data"]["track"]] == [True] * len(valid), stored
    server.assert_log_clean(items)


@seed(SEED)
@CHECK
@given(variables=texts, number=st.sampled_from([*NASTY_NUMBERS[3:], "1", "-0"]),
       keyed=st.booleans())
def test_get_with_any_variables_and_number_literals(server: Watched, variables: str,
                                                    number: str, keyed: bool) -> None:
    headers = {"authorization": f"Bearer {server.key}"} if keyed else {}
    literal = "query { stats(shopId: " + number.lstrip("-") + ") { sessions } }"
    variable = "query($n: Int) { __typename }"
    for params in ({"query": "{ __typename }", "variables": variables}, {"query": literal},
                   {"query": variable, "variables": '{"n": ' + number + "}"}):
        response = server.http.get("/graphql", params=params, headers=headers)
        answered(response, params)
        server.assert_log_clean(params)


operations = st.builds(
    lambda kind, number, variables: '{"type": "' + kind + '", "id": "op", "payload": {"query": '
    + json.dumps("subscription($n: Int) { triggers(shopId: " + number.lstrip("-")
                 + ") { triggerId } }") + ', "variables": ' + variables + "}}",
    st.sampled_from(["subscribe", "start"]), st.sampled_from([*NASTY_NUMBERS[3:], "1"]), values)


@seed(SEED)
@CHECK
@given(frame=st.one_of(texts, operations, st.builds(
    lambda kind, id_, payload: '{"type": ' + kind + ', "id": ' + id_ + ', "payload": '
                               + payload + "}",
    st.sampled_from(['"connection_init"', '"subscribe"', '"start"', '"stop"', '"complete"',
                     '"ping"', '"pong"', '"connection_terminate"', "7", "null", '"x"']),
    st.one_of(st.just('"1"'), scalars), values)),
    protocol=st.sampled_from(PROTOCOLS), keyed=st.booleans())
def test_websocket_frames_of_any_json_text(server: Watched, frame: str, protocol: str,
                                           keyed: bool) -> None:
    url = server.process.url.replace("http", "ws") + "/graphql"
    with connect(url, subprotocols=[protocol], open_timeout=10) as ws:
        if keyed:
            ws.send(json.dumps({"type": "connection_init",
                                "payload": {"authorization": f"Bearer {server.key}"}}))
            assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        ws.send(frame)
        try:
            while True:  # answers, until the server closes or has nothing more to say
                message = ws.recv(timeout=0.3)
                assert "INTERNAL" not in message, (frame[:200], message)
        except TimeoutError:
            pass
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code != 1006, (frame[:200], closed)
    server.barrier()
    server.assert_log_clean(frame[:200])


@seed(SEED)
@CHECK
@given(path=st.sampled_from(PUBLIC_GETS), query=st.text(max_size=40),
       etag=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255,
                                           exclude_characters="\x7f"), max_size=40).map(str.strip),
       method=st.sampled_from(["GET", "HEAD"]))
def test_public_get_endpoints_with_any_query_and_headers(
        server: Watched, path: str, query: str, etag: str, method: str) -> None:
    response = server.http.request(method, path, params={"q": query, "variables": query},
                                   headers={"if-none-match": etag.encode("latin-1")})
    assert response.status_code < 500, (path, query, response.status_code)
    server.assert_log_clean((path, query, etag))
