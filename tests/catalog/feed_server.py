"""A real HTTP server that publishes product feeds, as a shop's site would (uvicorn on a
free port). Each feed is a path; the test puts bytes there, or a body of N bytes streamed
without a Content-Length (`huge`), or a redirect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from app.settings import Settings
from tests.support.live import LiveServer

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FeedServer:
    def __init__(self) -> None:
        self.feeds: dict[str, bytes] = {}
        self.huge: dict[str, int] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[str] = []
        app = Starlette(routes=[Route("/feeds/{name}", self._feed)])
        app.state.settings = Settings()
        self.server = LiveServer(app)

    def url(self, name: str) -> str:
        return f"{self.server.http_url}/feeds/{name}"

    def put(self, name: str, body: bytes) -> str:
        self.feeds[name] = body
        return self.url(name)

    async def _feed(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.requests.append(name)
        if name in self.redirects:
            return RedirectResponse(self.redirects[name], status_code=302)
        if name in self.huge:
            return StreamingResponse(self._zeros(self.huge[name]), media_type="application/xml")
        if name not in self.feeds:
            return Response("not found", status_code=404)
        kind = "text/html" if self.feeds[name].lstrip().startswith(b"<!DOCTYPE html") \
            else "application/xml"
        return Response(self.feeds[name], media_type=kind)

    @staticmethod
    async def _zeros(size: int) -> AsyncIterator[bytes]:
        chunk = b"<!-- " + b"x" * (1024 * 1024 - 9) + b" -->\n"
        yield b'<?xml version="1.0"?>\n<yml_catalog><shop><offers>\n'
        sent = 0
        while sent < size:
            yield chunk
            sent += len(chunk)
        yield b"</offers></shop></yml_catalog>\n"

    async def __aenter__(self) -> FeedServer:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.server.__aexit__(*exc_info)
