"""What every resolver is handed: the platform and who is asking.

One Context serves one HTTP request, or one WebSocket connection: there every
operation gets a copy of it (`for_operation`), which shares the connection's key
check but takes a token of the key's rate limit of its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from app.access import Keys, Principal
from app.platform import Platform


@dataclass
class Context:
    platform: Platform
    request: Any
    response: Any = None
    connection_params: dict[str, Any] | None = None
    # Shared by the fields of an operation, so that they check the key and take a token once.
    _principal: asyncio.Future[Principal] | None = field(default=None, repr=False)
    _charged: asyncio.Future[None] | None = field(default=None, repr=False)

    @property
    def headers(self) -> Any:
        return self.request.headers

    @property
    def origin(self) -> str | None:
        return self.headers.get("origin")

    @property
    def client_ip(self) -> str:
        """The client's address (behind trusted proxies, the one they saw: proxies.py)."""
        client = getattr(self.request, "client", None)
        return client.host if client else "unknown"

    def authorization(self) -> str | None:
        if self.connection_params is not None:
            value = self.connection_params.get("authorization") or self.connection_params.get(
                "Authorization")
            return value if isinstance(value, str) else None
        return self.headers.get("authorization")

    def for_operation(self) -> Context:
        """This context for one more operation: the same caller, a token of its own."""
        return replace(self, _charged=None)

    async def principal(self) -> Principal:
        """The caller, its key checked (once per request or connection), and a token taken
        from the key's bucket (once per operation)."""
        if self._principal is None:
            keys = Keys(self.platform.shops, self.platform.settings.admin_key,
                        self.platform.limiter)
            self._principal = asyncio.ensure_future(
                keys.principal(self.authorization(), self.client_ip))
        principal = await self._principal
        if self._charged is None:
            self._charged = asyncio.ensure_future(
                self.platform.limiter.check_key(principal.key_id))
        await self._charged
        return principal

    async def authorize(self, shop_id: int) -> Principal:
        """The caller, if it may act on this shop; else Unauthenticated or Forbidden."""
        principal = await self.principal()
        principal.require_shop(shop_id)
        return principal

    async def admin(self) -> Principal:
        principal = await self.principal()
        principal.require_admin()
        return principal

    async def limit_tracker(self, events: list[Any]) -> None:
        """Apply the tracker's rate limits (per client address and per shop's visitor)."""
        await self.platform.limiter.check_tracker(
            self.client_ip, ((e.context.shop_id, str(e.context.visitor_id)) for e in events))
