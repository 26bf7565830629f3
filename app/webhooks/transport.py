"""An httpx transport on h11 and asyncio streams, for webhooks.

httpx's default transport (httpcore's connection pool on anyio) cost 0.86 ms of
CPU per webhook request in this process, against 0.07 ms for the same request
written and parsed with h11 (the protocol library httpcore itself uses) on
asyncio streams: at 1,000 deliveries a second, most of a core (docs/webhooks.md).
This transport keeps httpx's client API (`AsyncClient.stream`, its errors)
and does the little webhooks need: HTTP/1.1, keep-alive connections per origin,
a request body in memory, and connections opened only to addresses the caller's
`connect` allows (the address check of app/webhooks/net.py).

A receiver cannot hold an attempt, nor burn this process's CPU on it (issue 22):
- at most MAX_INFORMATIONAL informational (1xx) answers before the real one, and at
  most MAX_HEAD_BYTES read before it ends; beyond, RemoteProtocolError;
- the whole exchange, the answer's body included, ends `total` seconds after it began
  (httpx.ReadTimeout), whether or not the caller has a timeout of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import h11
import httpx

KEEP_ALIVE_SECONDS = 30.0  # an idle connection older than this is closed, not reused
MAX_INFORMATIONAL = 8  # 1xx answers accepted before the real one (a server sends 0 to 2)
MAX_HEAD_BYTES = 64 * 1024  # read before the real answer's head is complete
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[str, str, int], Awaitable[Streams]]  # (scheme, host, port) -> streams
Origin = tuple[str, str, int]


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.idle_since = time.monotonic()
        self.deadline = 0.0  # the loop time the current exchange must end by
        self.read = 0  # bytes read in the current exchange

    def usable(self) -> bool:
        return (not self.reader.at_eof() and not self.writer.is_closing()
                and time.monotonic() - self.idle_since < KEEP_ALIVE_SECONDS)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    async def next_event(self) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                async with asyncio.timeout_at(self.deadline):
                    data = await self.reader.read(65536)
            except TimeoutError:
                raise httpx.ReadTimeout("the answer took longer than the attempt may") from None
            self.read += len(data)
            self.h11.receive_data(data)


class _Body(httpx.AsyncByteStream):
    """The answer's body; at its end the connection goes back to the idle ones."""

    def __init__(self, transport: H11Transport, origin: Origin, connection: _Connection) -> None:
        self.transport = transport
        self.origin = origin
        self.connection: _Connection | None = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self.connection
        if connection is None:
            return
        try:
            while True:
                event = await connection.next_event()
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__}")
        except (OSError, h11.ProtocolError) as error:
            self._drop()
            raise httpx.ReadError(str(error) or type(error).__name__) from None
        except BaseException:  # cancelled (the attempt's timeout): mid-answer, unusable
            self._drop()
            raise
        self.connection = None
        self.transport.release(self.origin, connection)

    async def aclose(self) -> None:
        self._drop()  # not read to the end: the connection cannot carry another request

    def _drop(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class H11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive, at most `limit` idle connections per origin."""

    def __init__(self, connect: Connect, limit: int = 10, total: float = 60.0) -> None:
        self.connect = connect
        self.limit = limit
        self.total = total  # seconds an exchange may take, its answer's body included
        self._idle: dict[Origin, list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        content = await request.aread()
        head = h11.Request(method=request.method, target=url.raw_path,
                           headers=list(request.headers.raw))
        reused = self._take(origin)
        if reused is not None:
            try:
                return await self._exchange(origin, reused, head, content)
            except httpx.TransportError:
                pass  # the server closed it while idle: once more on a new connection
        try:
            connection = _Connection(*await self.connect(*origin))
        except OSError as error:
            raise httpx.ConnectError(str(error) or type(error).__name__) from None
        return await self._exchange(origin, connection, head, content)

    async def _exchange(self, origin: Origin, connection: _Connection, head: h11.Request,
                        content: bytes) -> httpx.Response:
        connection.deadline = asyncio.get_running_loop().time() + self.total
        connection.read = 0
        try:
            connection.writer.write(connection.h11.send(head) + connection.h11.send(
                h11.Data(data=content)) + connection.h11.send(h11.EndOfMessage()))
            async with asyncio.timeout_at(connection.deadline):
                await connection.writer.drain()
            event = await self._answer(connection)
        except TimeoutError:
            connection.close()
            raise httpx.WriteTimeout("the request took longer than the attempt may") from None
        except httpx.HTTPError:
            connection.close()
            raise
        except (OSError, h11.ProtocolError) as error:
            connection.close()
            raise httpx.ReadError(str(error) or type(error).__name__) from None
        except BaseException:  # cancelled (the attempt's timeout): mid-exchange, unusable
            connection.close()
            raise
        if not isinstance(event, h11.Response):
            connection.close()
            raise httpx.RemoteProtocolError("the server closed the connection without answering")
        return httpx.Response(event.status_code, headers=list(event.headers),
                              stream=_Body(self, origin, connection))

    @staticmethod
    async def _answer(connection: _Connection) -> h11.Event | type[h11.PAUSED]:
        """The real answer's head, past at most MAX_INFORMATIONAL 1xx ones."""
        event = await connection.next_event()
        informational = 0
        while isinstance(event, h11.InformationalResponse):
            informational += 1
            if informational > MAX_INFORMATIONAL or connection.read > MAX_HEAD_BYTES:
                raise httpx.RemoteProtocolError(
                    f"more than {MAX_INFORMATIONAL} informational (1xx) answers")
            event = await connection.next_event()
        return event

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    def release(self, origin: Origin, connection: _Connection) -> None:
        """A connection whose answer was read to the end: kept for the next request."""
        if connection.h11.our_state is h11.DONE and connection.h11.their_state is h11.DONE:
            connection.h11.start_next_cycle()
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.limit:
                connection.idle_since = time.monotonic()
                idle.append(connection)
                return
        connection.close()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
