"""A real webhook receiver for tests: uvicorn on a free port, verifying every request
with the `standardwebhooks` package, as an integration would.

Each endpoint is a path (`/hooks/<name>`); the test says what each answers
(a status per request, the last one repeating; `HANG` never answers) and which
secret it verifies with.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from app.settings import Settings
from tests.support.live import LiveServer

HANG = -1  # an answer that never comes


@dataclass
class Received:
    name: str
    headers: dict[str, str]
    body: bytes
    payload: Any  # the verified JSON; None if it did not verify
    error: str | None  # why it did not verify
    at: float = field(default_factory=time.perf_counter)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def verified(self) -> bool:
        return self.error is None

    def verifies_with(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, self.headers)
        except WebhookVerificationError:
            return False
        return True


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.secrets: dict[str, str] = {}
        self.answers: dict[str, list[int]] = {}
        self._release = asyncio.Event()  # lets hanging requests go when the test ends
        self.endless_answers = False  # answers whose body never ends (10 ms per 64 KB)
        app = Starlette(routes=[
            Route("/hooks/{name}", self._hook, methods=["POST"]),
            Route("/followed", self._followed, methods=["GET", "POST"]),
        ])
        app.state.settings = Settings()  # LiveServer runs it with the server's options
        self.server = LiveServer(app)

    def url(self, name: str) -> str:
        return f"{self.server.http_url}/hooks/{name}"

    def expect(self, name: str, secret: str, answers: list[int] | None = None) -> None:
        """`name` verifies with `secret` and answers `answers` in turn (the last repeats)."""
        self.secrets[name] = secret
        self.answers[name] = list(answers or [200])

    def of(self, name: str) -> list[Received]:
        return [r for r in self.received if r.name == name]

    def ids(self, name: str) -> list[str]:
        return [r.webhook_id for r in self.of(name)]

    async def _hook(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        headers = dict(request.headers)
        payload, error = None, "no secret for this endpoint"
        if name in self.secrets:
            try:
                payload, error = Webhook(self.secrets[name]).verify(body, headers), None
            except WebhookVerificationError as failed:
                error = str(failed)
        self.received.append(Received(name, headers, body, payload, error))
        answers = self.answers.get(name, [200])
        status = answers.pop(0) if len(answers) > 1 else answers[0]
        if status == HANG:
            await self._release.wait()
            return Response(status_code=503)
        if 300 <= status < 400:
            return Response(status_code=status, headers={"location": "/followed"})
        if self.endless_answers:
            return StreamingResponse(self._endless(), status_code=status)
        return PlainTextResponse(json.dumps({"status": status}), status_code=status)

    async def _endless(self) -> AsyncIterator[bytes]:
        chunk = b"x" * 65536
        while not self._release.is_set():
            yield chunk
            await asyncio.sleep(0.01)

    async def _followed(self, request: Request) -> Response:
        self.received.append(Received("followed", dict(request.headers), b"", None, "followed"))
        return Response(status_code=200)

    async def __aenter__(self) -> Receiver:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._release.set()
        await self.server.__aexit__(*exc_info)
