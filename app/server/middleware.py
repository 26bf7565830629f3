"""ASGI middleware in front of /graphql: CORS, body limits and timeout, text/plain bodies
read as JSON.

Pure ASGI, so none of it buffers or touches streaming responses, and each
leaves WebSocket and lifespan traffic alone.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.access import Keys
from app.core import TrackerError

log = logging.getLogger("tracker.server")

TRACKER_BODY_LIMIT = 64 * 1024
API_BODY_LIMIT = 1024 * 1024
BODY_TIMEOUT = 10.0
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


class _Refused(Exception):
    def __init__(self, status: int, message: str, **extensions: object) -> None:
        super().__init__(message)
        self.status, self.message, self.extensions = status, message, extensions


def _too_large(limit: int) -> _Refused:
    return _Refused(413, f"request body is larger than {limit} bytes", limit=limit)


class BodyLimit:
    """Refuses bodies over the limit with 413, and bodies that arrive too slowly with 408,
    before anything parses them.

    Tracker requests may carry 64 KB; requests whose key checks out 1 MB. Only a
    body past 64 KB has its key checked (`app/access/auth.py`, where a wrong key counts
    against the client's guesses), as it arrives: no body is read twice, and any
    header that is not a valid key leaves the limit at 64 KB. A declared
    Content-Length is checked at once; a body without one is counted as it arrives.
    The whole body must arrive within `timeout` seconds of the request.
    """

    def __init__(self, app: ASGIApp, tracker_limit: int = TRACKER_BODY_LIMIT,
                 api_limit: int = API_BODY_LIMIT, timeout: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.tracker_limit = tracker_limit
        self.api_limit = api_limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            limit = await self._declared(scope)
            await self.app(scope, self._counted(scope, receive, limit), tracked_send)
        except _Refused as refusal:
            if not started:
                await self._refuse(send, refusal)

    async def _declared(self, scope: Scope) -> int:
        """The limit, from a declared Content-Length (the tracker's if none is declared)."""
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is None:
            return self.tracker_limit
        if not declared.isdigit() or len(declared) > 12:
            raise _too_large(self.tracker_limit)
        if int(declared) <= self.tracker_limit:
            return self.tracker_limit
        limit = await self._limit_for_key(scope)
        if int(declared) > limit:
            raise _too_large(limit)
        return limit

    def _counted(self, scope: Scope, receive: Receive, limit: int) -> Receive:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        seen = 0
        complete = False

        async def counted_receive() -> Message:
            nonlocal seen, complete, limit
            if complete:  # later reads wait for a disconnect: no deadline for those
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                raise _Refused(408, f"the request body did not arrive within {self.timeout:g} s",
                               timeoutSeconds=self.timeout) from None
            if message["type"] != "http.request":
                complete = True
                return message
            seen += len(message.get("body", b""))
            if seen > limit and limit < self.api_limit:
                limit = await self._limit_for_key(scope)  # at most once: it returns for good
            if seen > limit:
                raise _too_large(limit)
            complete = not message.get("more_body", False)
            return message

        return counted_receive

    async def _limit_for_key(self, scope: Scope) -> int:
        """The API limit if the request's key checks out, else the tracker's."""
        header = dict(scope["headers"]).get(b"authorization")
        platform = scope.get("state", {}).get("platform")
        if header is None or platform is None:
            return self.tracker_limit
        client = scope["client"][0] if scope.get("client") else "unknown"
        keys = Keys(platform.shops, platform.settings.admin_key, platform.limiter)
        try:
            await keys.principal(header.decode("latin-1"), client)
        except TrackerError:
            return self.tracker_limit
        except Exception:  # storage down: the GraphQL layer reports it if the body fits
            log.warning("could not check a key for the body limit", exc_info=True)
            return self.tracker_limit
        return self.api_limit

    @staticmethod
    async def _refuse(send: Send, refusal: _Refused) -> None:
        body = json.dumps({"data": None, "errors": [{
            "message": refusal.message,
            "extensions": {"code": "BAD_INPUT", **refusal.extensions},
        }]}).encode()
        # The rest of the body is not read: the connection cannot serve another request.
        await send({"type": "http.response.start", "status": refusal.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
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
