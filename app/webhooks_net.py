"""Where webhooks may go: URL rules, the address check, and the HTTP client that keeps them.

A webhook URL is chosen by a shop, and the server POSTs to it from inside the
operator's network: without a check, `http://169.254.169.254/` or
`http://localhost:27017/` would let a shop probe what only the server can reach.
So a URL must be http(s) and its host must resolve to public addresses only,
unless `TRACKER_WEBHOOK_ALLOW_PRIVATE=1` (the embedded default, for demos and tests).

The check runs when an endpoint is added or changed, and again on every new
connection the sender opens: `GuardedBackend` resolves the host itself, checks
every address and connects to the checked address, so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot slip through. TLS
still verifies the certificate against the host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from app.errors import BadInput

MAX_URL = 2048
RESOLVE_SECONDS = 5.0


def check_url(url: str) -> str:
    """The URL, if its form is acceptable (http/https, a host, no credentials); else BadInput."""
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL:
        raise BadInput(f"url must be 1 to {MAX_URL} characters", field="url")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadInput("url is not a valid URL", field="url") from None
    if parts.scheme not in {"http", "https"}:
        raise BadInput("url must start with http:// or https://", field="url")
    if not parts.hostname:
        raise BadInput("url has no host", field="url")
    if parts.username is not None or parts.password is not None:
        raise BadInput("url must not carry credentials; the signature authenticates",
                       field="url")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise BadInput("url must not contain spaces or control characters", field="url")
    if port == 0:
        raise BadInput("url has port 0", field="url")
    try:
        ascii_host(parts.hostname)
    except UnicodeError:
        raise BadInput("url has a host name that cannot be encoded", field="url") from None
    return url


def ascii_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.encode("idna").decode("ascii")


def is_public(address: str) -> bool:
    """False for loopback, private, link-local, and every other non-global address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a literal address resolves to itself)."""
    host = ascii_host(host)
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS)
    return list(dict.fromkeys(info[4][0] for info in infos))


class PrivateAddress(Exception):
    """The host resolves to an address webhooks may not reach."""


async def public_addresses(host: str, port: int) -> list[str]:
    """The host's addresses if every one is public; else PrivateAddress."""
    addresses = await resolve(host, port)
    private = [a for a in addresses if not is_public(a)]
    if private or not addresses:
        raise PrivateAddress(f"{host} resolves to a loopback, private or link-local address "
                             f"({', '.join(private) or 'none'})")
    return addresses


async def check_destination(url: str, allow_private: bool) -> None:
    """BadInput unless the URL's host resolves to public addresses only (or private is allowed)."""
    if allow_private:
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await public_addresses(parts.hostname or "", port)
    except PrivateAddress as error:
        raise BadInput(f"url: {error}; set TRACKER_WEBHOOK_ALLOW_PRIVATE=1 to allow it",
                       field="url") from None
    except (OSError, UnicodeError, TimeoutError):
        raise BadInput("url: the host name does not resolve", field="url") from None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to public addresses (unless private ones are allowed)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        try:
            if self.allow_private:
                addresses = await resolve(host, port)
            else:
                addresses = await public_addresses(host, port)
        except PrivateAddress as error:
            raise httpcore.ConnectError(str(error)) from None
        except (OSError, UnicodeError, TimeoutError) as error:
            raise httpcore.ConnectError(f"{host} does not resolve: {error}") from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address,
                                                    socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks do not go to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def make_client(timeout: float, allow_private: bool, connections: int) -> httpx.AsyncClient:
    """A keep-alive client that follows no redirects, reads no proxy settings from the
    environment, and connects through `GuardedBackend`."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # The transport builds its pool with the default network backend; ours replaces it.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=30.0,
        network_backend=GuardedBackend(allow_private),
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False,
                             trust_env=False)
