"""The client's address behind reverse proxies (TRACKER_TRUSTED_PROXIES).

A request's peer is the last proxy; X-Forwarded-For lists the addresses each proxy
saw, the newest last. Only what trusted proxies wrote is believed: reading the
list from the right, the first address that is not a trusted proxy is the
client. Anything to its left was written by that client and may be made up.

This replaces uvicorn's own `proxy_headers` (the server runs with it off), so the
same rule holds however the app is served.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
KNOWN_HOSTS = 4096  # hosts whose trust is remembered


class TrustedProxies:
    """Addresses and networks ("10.0.0.0/8") whose X-Forwarded-For is believed."""

    def __init__(self, spec: str) -> None:
        self.networks: list[Network] = [
            ipaddress.ip_network(item, strict=False) for item in _items(spec)
            if item.lower() != "none"
        ]
        self._known: dict[str, bool] = {}

    def __contains__(self, host: str) -> bool:
        # Asked for every request's peer: parsing an address costs more than the rest of
        # the check, so answers are kept (a bounded memo, emptied when full).
        known = self._known.get(host)
        if known is None:
            address = _address(host)
            known = address is not None and any(address in net for net in self.networks)
            if len(self._known) >= KNOWN_HOSTS:
                self._known.clear()
            self._known[host] = known
        return known

    def client(self, peer: str, forwarded_for: Iterable[str]) -> str:
        """The client's address, for a request from `peer` with these X-Forwarded-For values."""
        if peer not in self:
            return peer
        hops = [hop for value in forwarded_for for hop in _items(value)]
        nearest = peer
        for hop in reversed(hops):
            host = _host(hop)
            if _address(host) is None:
                # Not an address: whoever the proxy at `nearest` talked to sent it.
                return nearest
            if host not in self:
                return host
            nearest = host
        return nearest  # trusted all the way: the furthest proxy is the client we know


def resolve_client(scope: Scope, trusted: TrustedProxies) -> None:
    """Set the scope's client (HTTP and WebSocket) to the address proxies saw, and its scheme
    to the one they were asked by (X-Forwarded-Proto). In place: uvicorn's access log reads it.
    `app/server/middleware.py` calls it first thing for every request."""
    if not trusted.networks:
        return
    peer = scope.get("client")
    if peer and peer[0] in trusted:
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        client = trusted.client(peer[0], forwarded)
        if client != peer[0]:
            scope["client"] = (client, 0)
        proto = _header(scope, b"x-forwarded-proto")
        if proto in {"http", "https"}:
            scope["scheme"] = proto.replace("http", "ws") \
                if scope["type"] == "websocket" else proto


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1").strip().lower()
    return None


def _host(hop: str) -> str:
    """An X-Forwarded-For entry without its port: "1.2.3.4:5", "[::1]:5", "::1"."""
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # "::ffff:10.0.0.1" is 10.0.0.1
    return address
