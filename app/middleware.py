"""ASGI middleware in front of /graphql: body limits, and text/plain bodies read as JSON."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACKER_BODY_LIMIT = 64 * 1024
API_BODY_LIMIT = 1024 * 1024


class PlainTextJSON:
    """Lets POST /graphql take a text/plain body holding JSON.

    Browsers send text/plain (and navigator.sendBeacon only can) without a CORS
    preflight, so the tracker never pays for one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = [
                (b"content-type", b"application/json")
                if name == b"content-type" and value.split(b";")[0].strip() == b"text/plain"
                else (name, value)
                for name, value in scope["headers"]
            ]
            scope = {**scope, "headers": headers}
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
