"""What every resolver is handed: the platform and who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.auth import Principal, authenticate
from app.platform import Platform


@dataclass
class Context:
    platform: Platform
    request: Any
    response: Any = None
    connection_params: dict[str, Any] | None = None
    _principal: Principal | None = field(default=None, repr=False)

    @property
    def headers(self) -> Any:
        return self.request.headers

    @property
    def origin(self) -> str | None:
        return self.headers.get("origin")

    @property
    def client_ip(self) -> str:
        client = getattr(self.request, "client", None)
        return client.host if client else "unknown"

    def authorization(self) -> str | None:
        if self.connection_params is not None:
            value = self.connection_params.get("authorization") or self.connection_params.get(
                "Authorization")
            return value if isinstance(value, str) else None
        return self.headers.get("authorization")

    async def principal(self) -> Principal:
        if self._principal is None:
            settings = self.platform.settings
            principal = await authenticate(self.platform.shops, settings.admin_key,
                                           self.authorization())
            await self.platform.limiter.check_key(principal.key_id)
            self._principal = principal
        return self._principal

    async def for_shop(self, shop_id: int) -> Principal:
        """The caller, if it may act on this shop; else Unauthenticated or Forbidden."""
        principal = await self.principal()
        principal.require_shop(shop_id)
        return principal

    async def admin(self) -> Principal:
        principal = await self.principal()
        principal.require_admin()
        return principal

    async def limit_tracker(self, events: list[Any]) -> None:
        """Apply the tracker's rate limits (per client address and per visitor)."""
        await self.platform.limiter.check_tracker(
            self.client_ip, (str(e.context.visitor_id) for e in events))

