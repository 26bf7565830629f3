"""Connections are held within bounds (issue 12, item 9): silent WebSockets of both
protocols, slow request bodies and huge headers, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from tests.support.live import (
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    open_shop,
    serving,
    track,
    wait_subscribed,
)
from tests.support.servers import ServerProcess
from tests.support.wsclient import WsClient


async def test_silent_websockets_of_both_protocols_are_closed_with_4408() -> None:
    async with serving(ws_init_timeout_seconds=0.3) as server:
        for protocol in (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS):
            async with WsClient(server.ws_url, protocol) as ws:
                close_code, _ = await ws.closed()  # never sends connection_init
            assert close_code == 4408, protocol


async def test_a_legacy_websocket_that_says_hello_in_time_stays_open() -> None:
    async with serving(ws_init_timeout_seconds=0.3) as server:
        key = await open_shop(server)
        async with WsClient(server.ws_url, GRAPHQL_WS) as ws:
            assert (await ws.init(key))["type"] == "connection_ack"
            await asyncio.sleep(0.6)  # well past the timeout: it must not fire any more
            await ws.send({"id": "1", "type": "start", "payload": {
                "query": "subscription { triggers(shopId: 1) { type } }"}})
            await wait_subscribed(server)
            await track(server, "CUSTOM", eventName="hello")
            answer = await ws.recv()
    assert answer == {"id": "1", "type": "data",
                      "payload": {"data": {"triggers": {"type": "CUSTOM_EVENT"}}}}


async def _dribble(port: int, body_length: int, pause: float) -> bytes:
    """POST a body one byte at a time, `pause` seconds apart; whatever the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % body_length)
    answer = asyncio.create_task(reader.read(65536))
    try:
        for _ in range(body_length):
            if answer.done():
                break
            writer.write(b" ")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.wait([answer], timeout=pause)
        return await asyncio.wait_for(answer, 20)
    finally:
        writer.close()


async def test_a_body_that_dribbles_in_is_cut_off_with_408() -> None:
    # The server's budget for the whole body (0.5 s) is a small part of the time the client
    # takes to send it (100 bytes, 0.1 s apart): only the budget can end it early.
    async with serving(body_timeout_seconds=0.5) as server:
        answer = await _dribble(server.port, 100, 0.1)
        healthy = await server.http.get("/healthz")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"BAD_INPUT" in answer
    assert healthy.status_code == 200


def _send_header(port: int, size: int) -> bytes:
    """GET /healthz with one header of `size` bytes; the answer, b"" if the server hung up."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: "
        try:
            sock.sendall(head)
            chunk = b"a" * 65536
            for start in range(0, size, len(chunk)):
                sock.sendall(chunk[: size - start])
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while we were still sending: read what it said, if anything
        try:
            return sock.recv(4096)
        except ConnectionResetError:
            return b""


def test_a_16mb_header_is_refused() -> None:
    with ServerProcess() as server:
        huge = _send_header(server.port, 16 * 1024 * 1024)
        ordinary = _send_header(server.port, 8 * 1024)
    assert huge == b"" or huge.startswith(b"HTTP/1.1 431"), huge[:200]
    assert ordinary.startswith(b"HTTP/1.1 200")
