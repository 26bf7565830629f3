"""Garbage at the boundary is BAD_INPUT, never a 500, an INTERNAL error or a traceback.

Every entry is tried on a real server (uvicorn, in this process): POST JSON,
text/plain, GET ?query=&variables=, the tracker's fast path, and both WebSocket
protocols. Whatever the server logs meanwhile is kept: a client's mistake may
cost one short line, never a traceback or an ERROR.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from app.server.fastpath import TRACKER_DOCUMENT
from tests.support.api import ADMIN_KEY
from tests.support.live import (
    DEADLINE,
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    PROTOCOLS,
    LiveServer,
    serving,
)

HUGE = "9" * 5000  # past Python's 4,300 digits for int(text)
SLOW_DOCUMENT = TRACKER_DOCUMENT[:-1] + " __typename}"  # not the fast path's: Strawberry's
DOCUMENTS = {"fast path": TRACKER_DOCUMENT, "general path": SLOW_DOCUMENT}
LONE = "\ud800"


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def assert_clean(self) -> None:
        """No traceback, no ERROR, and each line one line."""
        for record in self.records:
            text = record.getMessage()
            assert record.exc_info is None, f"a traceback was logged: {text}"
            assert record.levelno < logging.ERROR, f"an error was logged: {text}"
            assert "\n" not in text and "Traceback" not in text, text


@pytest.fixture
def kept() -> Iterator[Kept]:
    handler = Kept()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"),
               logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with serving() as live:
        yield live


async def open_shop(server: LiveServer, signed: bool = False) -> dict[str, Any]:
    created = (await server.graphql(
        'mutation { createShop(name: "S", shopId: 1) { apiKey shop { identifySecret } } }',
        key=ADMIN_KEY))["createShop"]
    if signed:
        await server.graphql(
            "mutation { updateShopSettings(shopId: 1, settings: {requireSignedIdentify: true})"
            " { shopId } }", key=ADMIN_KEY)
    return {"key": created["apiKey"], "secret": created["shop"]["identifySecret"]}


def body(document: str, events: list[dict[str, Any]]) -> str:
    # ensure_ascii: a lone surrogate travels as the escape \ud800, as a browser sends it
    return json.dumps({"query": document, "variables": {"e": events}})


async def post(server: LiveServer, text: str, content_type: str = "application/json"
               ) -> tuple[int, dict[str, Any]]:
    response = await server.http.post("/graphql", content=text.encode(),
                                      headers={"content-type": content_type})
    assert response.status_code < 500, response.text
    return response.status_code, response.json()


def codes(answer: dict[str, Any]) -> set[str]:
    return {e["extensions"]["code"] for e in answer.get("errors") or ()}


def event(kind: str = "VISIT", visitor: str = "v1", event_id: str | None = None,
          **fields: Any) -> dict[str, Any]:
    context = {"shopId": 1, "visitorId": visitor, **fields.pop("context", {})}
    if event_id:
        context["eventId"] = event_id
    return {"type": kind, "context": context, **fields}


async def stored(server: LiveServer, *events: dict[str, Any]) -> list[bool]:
    """Whether each event (with its eventId) is stored: sent again, it is a duplicate."""
    status, answer = await post(server, body(TRACKER_DOCUMENT.replace(
        "{eventId}", "{eventId duplicate}"), list(events)))
    assert status == 200 and not answer.get("errors"), answer
    return [r["duplicate"] for r in answer["data"]["track"]]


async def ws_closed(server: LiveServer, protocol: str, frames: list[str]) -> tuple[int, str]:
    """Send the frames; the close code and reason the server answers with."""
    async with websockets.connect(server.ws_url, subprotocols=[protocol]) as ws:
        for frame in frames:
            await ws.send(frame)
        try:
            async with asyncio.timeout(DEADLINE):  # keep-alives do not count as an answer
                while True:
                    await ws.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, closed.rcvd.reason


# -- item 7: numbers too long to read ------------------------------------------------------


async def test_a_number_of_thousands_of_digits_is_bad_input_on_every_http_entry(
        server: LiveServer, kept: Kept) -> None:
    shop = await open_shop(server)
    text = '{"query": "{ __typename }", "variables": {"a": HUGE}}'.replace("HUGE", HUGE)
    for content_type in ("application/json", "text/plain"):
        status, answer = await post(server, text, content_type)
        assert status == 400 and codes(answer) == {"BAD_INPUT"}, answer
    tracked = body(TRACKER_DOCUMENT, [event()]).replace('"shopId": 1', '"shopId": ' + HUGE)
    status, answer = await post(server, tracked)  # what the fast path would take
    assert status == 400 and codes(answer) == {"BAD_INPUT"}, answer
    got = await server.http.get("/graphql", params={"query": "{ __typename }",
                                                    "variables": '{"a": ' + HUGE + "}"})
    assert got.status_code == 400 and codes(got.json()) == {"BAD_INPUT"}, got.text
    literal = await server.http.post(
        "/graphql", json={"query": "{ stats(shopId: " + HUGE + ") { sessions } }"},
        headers={"authorization": f"Bearer {shop['key']}"})
    assert literal.status_code < 500 and codes(literal.json()) == {"BAD_INPUT"}, literal.text
    kept.assert_clean()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_number_of_thousands_of_digits_in_connection_init_closes_with_4400(
        server: LiveServer, kept: Kept, protocol: str) -> None:
    code, reason = await ws_closed(
        server, protocol, ['{"type": "connection_init", "payload": {"n": ' + HUGE + "}}"])
    assert code == 4400, (code, reason)
    kept.assert_clean()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_number_of_thousands_of_digits_in_a_websocket_operation_is_bad_input(
        server: LiveServer, kept: Kept, protocol: str) -> None:
    shop = await open_shop(server)
    kind = "start" if protocol == GRAPHQL_WS else "subscribe"
    async with websockets.connect(server.ws_url, subprotocols=[protocol]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {shop['key']}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": kind, "id": "1", "payload": {
            "query": "subscription { triggers(shopId: " + HUGE + ") { triggerId } }"}}))
        message = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
        while message["type"] == "ka":
            message = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
    assert message["type"] == "error", message
    errors = message["payload"] if isinstance(message["payload"], list) else [message["payload"]]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_INPUT"], message
    kept.assert_clean()


# -- item 8: signed identify with a hash or id that is not text ---------------------------


@pytest.mark.parametrize("document", DOCUMENTS.values(), ids=DOCUMENTS.keys())
@pytest.mark.parametrize("login", [
    {"userId": "u1", "userHash": "é" * 64},
    {"userId": "u1", "userHash": LONE * 64},
    {"userId": "ü" + LONE, "userHash": "0" * 64},
], ids=["non-ASCII hash", "lone-surrogate hash", "lone-surrogate user id"])
async def test_a_signed_login_with_an_unreadable_hash_is_refused_alone(
        server: LiveServer, kept: Kept, document: str, login: dict[str, str]) -> None:
    await open_shop(server, signed=True)
    views = [event("VISIT", event_id="view-1"), event("VISIT", event_id="view-2")]
    status, answer = await post(server, body(document, [views[0], event("LOGIN", **login),
                                                        views[1]]))
    assert status == 200, answer
    track = answer["data"]["track"]
    assert track[0] is not None and track[1] is None and track[2] is not None, answer
    assert [(e["path"], e["extensions"]["code"]) for e in answer["errors"]] == [
        (["track", 1], "BAD_INPUT")]
    assert await stored(server, *views) == [True, True]
    kept.assert_clean()


async def test_a_signed_login_with_a_non_ascii_user_id_and_its_hash_is_accepted(
        server: LiveServer, kept: Kept) -> None:
    shop = await open_shop(server, signed=True)
    user = "José Müller"
    good = hmac.new(shop["secret"].encode(), user.encode(), hashlib.sha256).hexdigest()
    for user_hash, code in ((good.upper(), None), ("0" * 64, "FORBIDDEN")):
        status, answer = await post(server, body(TRACKER_DOCUMENT, [
            event("LOGIN", userId=user, userHash=user_hash)]))
        assert status == 200 and codes(answer) == ({code} if code else set()), answer
    kept.assert_clean()


# -- item 9: a lone surrogate in any text field of the tracker ----------------------------

TEXT_FIELDS = {
    "pageName": event("SECTION_VIEW", pageName="home" + LONE),
    "categoryId": event("CATEGORY_VIEW", categoryId=LONE),
    "productId": event("PRODUCT_VIEW", categoryId="c", productId="p" + LONE),
    "userId": event("LOGIN", userId="u" + LONE),
    "orderId": event("CHECKOUT", orderId=LONE + "1"),
    "eventName": event("CUSTOM", eventName="n" + LONE),
    "properties": event("CUSTOM", eventName="n", properties={"a": ["x" + LONE]}),
    "properties key": event("CUSTOM", eventName="n", properties={LONE: 1}),
    "url": event("VISIT", context={"url": "https://shop/" + LONE}),
    "referrer": event("VISIT", context={"referrer": "https://r/" + LONE}),
    "sourceId": event("VISIT", context={"sourceId": "s" + LONE}),
    "identityToken": event("VISIT", context={"identityToken": LONE}),
}


@pytest.mark.parametrize("document", DOCUMENTS.values(), ids=DOCUMENTS.keys())
@pytest.mark.parametrize("bad", TEXT_FIELDS.values(), ids=TEXT_FIELDS.keys())
async def test_text_that_cannot_be_stored_is_refused_at_its_index_and_the_rest_applied(
        server: LiveServer, kept: Kept, document: str, bad: dict[str, Any]) -> None:
    await open_shop(server)
    views = [event("VISIT", event_id="view-1"), event("VISIT", event_id="view-2")]
    status, answer = await post(server, body(document, [views[0], bad, views[1]]))
    assert status == 200, answer
    assert [(e["path"], e["extensions"]["code"]) for e in answer["errors"]] == [
        (["track", 1], "BAD_INPUT")], answer
    assert "surrogate" in answer["errors"][0]["message"]
    assert await stored(server, *views) == [True, True]
    kept.assert_clean()


# -- item 11: malformed WebSocket frames ---------------------------------------------------

MALFORMED = {
    "an empty object": "{}",
    "a list": "[]",
    "a string": '"connection_init"',
    "not JSON": "nope",
    "NaN": '{"type": "connection_init", "payload": {"n": NaN}}',
    "a type that is not text": '{"type": 7}',
    "a null payload": '{"type": "connection_init", "payload": []}',
}
AFTER_INIT = {
    "start without id or payload": '{"type": "start"}',
    "subscribe without id or payload": '{"type": "subscribe"}',
    "a null payload": '{"type": "%s", "id": "1", "payload": null}',
    "a payload without a query": '{"type": "%s", "id": "1", "payload": {"query": 5}}',
    "variables that are not an object": '{"type": "%s", "id": "1", "payload": '
                                        '{"query": "{ __typename }", "variables": [1]}}',
    "an id that is not text": '{"type": "%s", "id": {"a": 1}, "payload": '
                              '{"query": "{ __typename }"}}',
    "stop without id": '{"type": "stop"}',
    "complete without id": '{"type": "complete"}',
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("frame", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_frame_before_any_key_closes_with_4400(
        server: LiveServer, kept: Kept, protocol: str, frame: str) -> None:
    code, reason = await ws_closed(server, protocol, [frame])
    assert code == 4400, (code, reason)
    kept.assert_clean()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("frame", AFTER_INIT.values(), ids=AFTER_INIT.keys())
async def test_a_malformed_frame_after_the_key_closes_with_4400(
        server: LiveServer, kept: Kept, protocol: str, frame: str) -> None:
    shop = await open_shop(server)
    init = json.dumps({"type": "connection_init",
                       "payload": {"authorization": f"Bearer {shop['key']}"}})
    operation = "start" if protocol == GRAPHQL_WS else "subscribe"
    code, reason = await ws_closed(server, protocol, [init, frame.replace("%s", operation)])
    assert code == 4400, (code, reason)
    kept.assert_clean()


async def test_well_formed_frames_still_work_on_both_protocols(server: LiveServer) -> None:
    shop = await open_shop(server)
    init = json.dumps({"type": "connection_init",
                       "payload": {"authorization": f"Bearer {shop['key']}"}})
    for protocol, kind in ((GRAPHQL_TRANSPORT_WS, "subscribe"), (GRAPHQL_WS, "start")):
        async with websockets.connect(server.ws_url, subprotocols=[protocol]) as ws:
            await ws.send(init)
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"type": kind, "id": "1",
                                      "payload": {"query": "{ __typename }"}}))
            message = json.loads(await ws.recv())
            while message["type"] == "ka":
                message = json.loads(await ws.recv())
            # graphql-ws runs subscriptions only: a query is answered with an error
            assert message["id"] == "1" and message["type"] in ("next", "data", "error"), message
