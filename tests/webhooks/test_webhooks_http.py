"""The webhook client over real sockets: keep-alive, servers that close idle
connections, chunked and close-delimited answers, TLS checked against the host name."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from app.webhooks.net import attempt, make_client

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
Answer = Callable[[int], bytes]  # the n-th request of a connection -> the bytes answered


class TinyServer:
    """An HTTP/1.1 server written by hand, answering each request as `answer` says and
    closing the connection after it when `close` says so."""

    def __init__(self, answer: Answer, close: bool = False,
                 tls: ssl.SSLContext | None = None) -> None:
        self.answer, self.close, self.tls = answer, close, tls
        self.connections = 0
        self.requests = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for n in range(100):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                self.requests += 1
                writer.write(self.answer(n))
                await writer.drain()
                if self.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def __aenter__(self) -> TinyServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.close()


async def post(url: str, times: int = 1, context: ssl.SSLContext | None = None
               ) -> list[tuple[int | None, str | None]]:
    client = make_client(5.0, True, 10, context)
    try:
        return [await attempt(client, url, b"{}", {"webhook-id": "1"}, 5.0)
                for _ in range(times)]
    finally:
        await client.aclose()


async def test_a_connection_is_kept_for_the_next_request() -> None:
    async with TinyServer(lambda n: OK) as server:
        assert await post(f"http://127.0.0.1:{server.port}/h", 3) == [(200, None)] * 3
    assert server.connections == 1 and server.requests == 3


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async with TinyServer(lambda n: OK, close=True) as server:
        assert await post(f"http://127.0.0.1:{server.port}/h", 3) == [(200, None)] * 3
    assert server.connections == 3 and server.requests == 3


async def test_chunked_and_close_delimited_answers_are_read() -> None:
    chunked = (b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n"
               b"4\r\nboom\r\n0\r\n\r\n")
    async with TinyServer(lambda n: chunked) as server:
        assert await post(f"http://127.0.0.1:{server.port}/h", 2) == [(500, "HTTP 500: boom")] * 2
    assert server.connections == 1
    until_close = b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n"
    async with TinyServer(lambda n: until_close, close=True) as server:
        assert await post(f"http://127.0.0.1:{server.port}/h", 2) == [(204, None)] * 2
    assert server.connections == 2


async def test_an_answer_that_stops_half_way_is_a_failure() -> None:
    cut = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this"
    async with TinyServer(lambda n: cut, close=True) as server:
        [(status, error)] = await post(f"http://127.0.0.1:{server.port}/h")
    assert status is None and error and error.startswith("ReadError")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate with")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    return key, cert


@pytest.fixture
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[TinyServer]:
    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    async with TinyServer(lambda n: OK, tls=context) as server:
        yield server


async def test_tls_is_checked_against_the_host_name_while_connecting_to_its_address(
    tls_server: TinyServer, certificate: tuple[Path, Path],
) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate[1]))
    # Connected to the address "localhost" resolved to, verified as "localhost".
    assert await post(f"https://localhost:{tls_server.port}/h", 2, trusting) == [
        (200, None)] * 2
    assert tls_server.connections == 1
    # The same server under another name: its certificate does not name it.
    [(status, error)] = await post(f"https://127.0.0.1:{tls_server.port}/h", 1, trusting)
    assert status is None and error and "certificate" in error.lower()
    # A certificate nobody vouches for.
    [(status, error)] = await post(f"https://localhost:{tls_server.port}/h", 1,
                                   ssl.create_default_context())
    assert status is None and error and "certificate" in error.lower()


class EndlessServer:
    """A receiver that never answers: it streams `chunk` for as long as the connection
    stays open (issue 22, item 5), and counts what it wrote."""

    def __init__(self, chunk: bytes, pause: float = 0.0) -> None:
        self.chunk, self.pause = chunk, pause
        self.written = 0
        self.ended = asyncio.Event()  # the client hung up

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            while True:
                writer.write(self.chunk)
                self.written += 1
                await writer.drain()
                await asyncio.sleep(self.pause)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.ended.set()
            writer.close()

    async def __aenter__(self) -> EndlessServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.close()


async def test_endless_informational_answers_end_the_attempt_at_their_bound() -> None:
    async with EndlessServer(b"HTTP/1.1 100 Continue\r\n\r\n") as server:
        [(status, error)] = await post(f"http://127.0.0.1:{server.port}/h")
        await asyncio.wait_for(server.ended.wait(), 5)
    assert status is None and error is not None
    assert "informational" in error  # not "no answer within 5 s": ended at the bound
    assert server.written <= 1 + 2 * 8  # MAX_INFORMATIONAL heads, and what was in flight


async def test_the_transport_ends_an_answer_that_never_ends_at_its_total_time() -> None:
    client = make_client(0.5, True, 10)
    body = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    try:
        async with EndlessServer(b"1\r\nx\r\n", pause=0.01) as server:
            server.chunk = body + server.chunk  # the head once, then a byte at a time
            chunks = 0
            with pytest.raises(httpx.TimeoutException):
                # No timeout around it but the transport's own: the total time per attempt.
                async with client.stream("POST", f"http://127.0.0.1:{server.port}/h",
                                         content=b"{}") as response:
                    server.chunk = b"1\r\nx\r\n"
                    async for _ in response.aiter_raw():
                        chunks += 1
            await asyncio.wait_for(server.ended.wait(), 5)
    finally:
        await client.aclose()
    assert chunks > 0
