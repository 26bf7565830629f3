"""ASGI middleware in front of /graphql: CORS, body limits, text/plain bodies read as JSON.

Pure ASGI, so none of it buffers or touches streaming responses, and each
leaves WebSocket and lifespan traffic alone.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACKER_BODY_LIMIT = 64 * 1024
API_BODY_LIMIT = 1024 * 1024
CORS_PATHS = frozenset({"/graphql", "/graphql/"})
CORS_ALLOW_HEADERS = "content-type, authorization"
CORS_ALLOW_METHODS = "POST, GET, OPTIONS"
CORS_MAX_AGE = "86400"


class PlainTextJSON:
    """Lets POST /graphql take a text/plain body holding JSON.

    Browsers send text/plain (and navigator.sendBeacon only can) without a CORS
    preflight, so the tracker never pays for one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            scope = {**scope, "headers": list(scope["headers"])}
            headers = MutableHeaders(scope=scope)
            if headers.get("content-type", "").split(";")[0].strip() == "text/plain":
                headers["content-type"] = "application/json"
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses bodies over the limit with 413 before anything parses them.

    Tracker requests (no Authorization header) may carry 64 KB; requests with a
    key 1 MB. A declared Content-Length is checked at once; a body without one
    is counted as it arrives.
    """

    def __init__(self, app: ASGIApp, tracker_limit: int = TRACKER_BODY_LIMIT,
                 api_limit: int = API_BODY_LIMIT) -> None:
        self.app = app
        self.tracker_limit = tracker_limit
        self.api_limit = api_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit = self.api_limit if b"authorization" in headers else self.tracker_limit
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = json.dumps({"data": None, "errors": [{
            "message": f"request body is larger than {limit} bytes",
            "extensions": {"code": "BAD_INPUT", "limit": limit},
        }]}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class TrackerCORS:
    """CORS for ``/graphql``: echoes the request's ``Origin`` and answers preflights.

    The tracker itself sends ``text/plain`` bodies, so it never triggers a
    preflight; dashboards on other origins that send ``Authorization`` do, and
    get one here. Refusing tracker events from origins outside a shop's
    ``allowedOrigins`` is the tracking pipeline's job, not this one's.
    """

    def __init__(self, app: ASGIApp, paths: frozenset[str] = CORS_PATHS) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        origin = request_headers.get("origin")
        if (origin and scope.get("method") == "OPTIONS"
                and "access-control-request-method" in request_headers):
            await self._preflight(origin, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                vary = [p.strip().lower() for p in headers.get("vary", "").split(",")]
                if "origin" not in vary:
                    headers.add_vary_header("Origin")
                if origin:
                    headers["access-control-allow-origin"] = origin
                elif "access-control-allow-origin" in headers:
                    del headers["access-control-allow-origin"]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(origin: str, send: Send) -> None:
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
            (b"access-control-allow-methods", CORS_ALLOW_METHODS.encode()),
            (b"access-control-max-age", CORS_MAX_AGE.encode()),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
