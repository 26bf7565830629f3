"""The webhook receiver of the webhook tests, answering some endpoints after a delay."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from tests.support.webhook_receiver import Receiver


class SlowReceiver(Receiver):
    def __init__(self, delays: dict[str, float]) -> None:
        super().__init__()
        self.delays = delays
        self.answered: list[str] = []  # webhook ids whose answer was sent in full

    async def _hook(self, request: Request) -> Response:
        name = request.path_params["name"]
        response = await super()._hook(request)
        await asyncio.sleep(self.delays.get(name, 0.0))
        self.answered.append(f"{name}:{request.headers.get('webhook-id')}")
        return response
