"""The one ASGI layer in front of the app: request timing, the client's address behind
proxies, CORS, body limits and timeout, text/plain bodies read as JSON.

These were five pure-ASGI middlewares, one inside the other. A tracker request
paid five coroutine frames and three send wrappers for them, a fifth of the
server's own CPU for one event (bench/FINDINGS.md, "Where a tracker request's
time goes"). `Front` is one layer that applies each rule in the order a request
met them, with one wrapper of `send` and one of `receive`:

1. timing (`tracker_request_duration_seconds`, `tracker_requests_total` by the
   operation kind the request names, `name_request`): first byte in to last out,
   with the status of whatever answer goes out, refusals and preflights included;
   a request that raises counts as a 500.
2. the client's address (`app/server/proxies.py`), in place, for HTTP and WebSocket.
3. CORS on `CORS_PATHS`: preflights answered here; every other answer (a refusal of
   rule 4 too) gets `Vary: Origin` and the request's `Origin` echoed.
4. body limits on POST, PUT and PATCH (`BodyLimit`): 413 or 408 before anything
   parses the body.
5. a POST's text/plain body read as JSON.

Pure ASGI: nothing is buffered, streaming responses are untouched. WebSocket
traffic gets rule 2 only, lifespan none.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.access import Keys
from app.backends import metrics
from app.core import TrackerError
from app.server.proxies import TrustedProxies, resolve_client

log = logging.getLogger("tracker.server")

TRACKER_BODY_LIMIT = 64 * 1024
API_BODY_LIMIT = 1024 * 1024
BODY_TIMEOUT = 10.0
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
CORS_PATHS = frozenset({"/graphql", "/graphql/", "/recommendations"})
CORS_ALLOW_HEADERS = "content-type, authorization"
CORS_ALLOW_METHODS = "POST, GET, OPTIONS"
CORS_MAX_AGE = "86400"


class Front:
    """Rules 1-5 of the module's docstring, in that order, as one ASGI layer."""

    def __init__(self, app: ASGIApp, *, trusted: str = "127.0.0.1,::1",
                 cors_paths: frozenset[str] = CORS_PATHS,
                 tracker_limit: int = TRACKER_BODY_LIMIT, api_limit: int = API_BODY_LIMIT,
                 timeout: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted)
        self.cors_paths = cors_paths
        self.limits = BodyLimit(tracker_limit, api_limit, timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                resolve_client(scope, self.trusted)
            await self.app(scope, receive, send)
            return
        holder = metrics.RequestKind()
        token = metrics.request_kind.set(holder)
        status = 500
        began = time.perf_counter()
        started = False  # has the app begun its answer (a refusal then cannot be sent)
        origin: str | None = None
        cors = False

        async def send_on(message: Message) -> None:
            nonlocal status, started
            started = True
            if message["type"] == "http.response.start":
                if cors:
                    _cors_headers(message, origin)
                status = message["status"]
            await send(message)

        try:
            resolve_client(scope, self.trusted)
            if scope.get("path") in self.cors_paths:
                request_headers = Headers(scope=scope)
                origin = request_headers.get("origin")
                if (origin and scope.get("method") == "OPTIONS"
                        and "access-control-request-method" in request_headers):
                    await _preflight(origin, send_on)  # `cors` still off: sent as it is
                    return
                cors = True
            method = scope["method"]
            if method not in BODY_METHODS:
                await self.app(scope, receive, send_on)
                return
            try:
                limit = await self.limits.declared(scope)
                inner = plain_text_as_json(scope) if method == "POST" else scope
                await self.app(inner, self.limits.counted(scope, receive, limit), send_on)
            except _Refused as refusal:
                if not started:
                    await _refuse(send_on, refusal)
        finally:
            metrics.request_kind.reset(token)
            duration, requests = _series(holder.kind, status // 100)
            duration.observe(time.perf_counter() - began)
            requests.inc()


_timing_series: dict[tuple[str, int], tuple[Any, Any]] = {}  # a few kinds, five classes


def _series(kind: str, status_class: int) -> tuple[Any, Any]:
    # `.labels()` takes a lock and checks its labels: once per pair, not per request.
    key = (kind, status_class)
    children = _timing_series.get(key)
    if children is None:
        children = _timing_series[key] = (metrics.REQUEST_DURATION.labels(kind),
                                          metrics.REQUESTS.labels(kind, f"{status_class}xx"))
    return children


# -- rule 3: CORS ------------------------------------------------------------------------
# The tracker itself sends text/plain bodies, so it never triggers a preflight;
# dashboards on other origins that send Authorization do, and get one here. Refusing
# tracker events from origins outside a shop's allowedOrigins is the tracking
# pipeline's job, not this one's.


def _cors_headers(message: Message, origin: str | None) -> None:
    headers = MutableHeaders(scope=message)
    vary = [p.strip().lower() for p in headers.get("vary", "").split(",")]
    if "origin" not in vary:
        headers.add_vary_header("Origin")
    if origin:
        headers["access-control-allow-origin"] = origin
    elif "access-control-allow-origin" in headers:
        del headers["access-control-allow-origin"]


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


# -- rule 4: body limits ---------------------------------------------------------------


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

    def __init__(self, tracker_limit: int = TRACKER_BODY_LIMIT,
                 api_limit: int = API_BODY_LIMIT, timeout: float = BODY_TIMEOUT) -> None:
        self.tracker_limit = tracker_limit
        self.api_limit = api_limit
        self.timeout = timeout

    async def declared(self, scope: Scope) -> int:
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

    def counted(self, scope: Scope, receive: Receive, limit: int) -> Receive:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        seen = 0
        complete = False

        async def counted_receive() -> Message:
            nonlocal seen, complete, limit
            if complete:  # later reads wait for a disconnect: no deadline for those
                return await receive()
            try:
                if loop.time() >= deadline:
                    raise TimeoutError  # what a wait of 0 s answers, whatever has arrived
                # A deadline on this task, not a task per read (as `wait_for` would make).
                async with asyncio.timeout_at(deadline):
                    message = await receive()
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


# -- rule 5: text/plain ------------------------------------------------------------------


def plain_text_as_json(scope: Scope) -> Scope:
    """A POST's scope with a text/plain body read as JSON (a copy: the caller's is left).

    Browsers send text/plain (and navigator.sendBeacon only can) without a CORS
    preflight, so the tracker never pays for one.
    """
    scope = {**scope, "headers": list(scope["headers"])}
    headers = MutableHeaders(scope=scope)
    if headers.get("content-type", "").split(";")[0].strip() == "text/plain":
        headers["content-type"] = "application/json"
    return scope
