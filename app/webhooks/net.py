"""Where webhooks may go and how: URL rules, the address check, the HTTP clients that keep
to them, and one attempt.

A webhook URL is chosen by a shop, and the server POSTs to it from inside the
operator's network: without a check, `http://169.254.169.254/` or
`http://localhost:27017/` would let a shop probe what only the server can reach.
So a URL must be http(s) and its host must resolve to public addresses only,
unless `TRACKER_WEBHOOK_ALLOW_PRIVATE=1` (the embedded default, for demos and tests).

The check runs when an endpoint is added or changed, and again on every
connection the sender opens: `open_checked` resolves the host itself, checks
every address and connects to the checked address, so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot slip through. TLS
still verifies the certificate against the host name.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
from urllib.parse import urlsplit

import httpx

from app.core import BadInput
from app.webhooks.transport import H11Transport, Streams

MAX_URL = 2048
RESOLVE_SECONDS = 5.0
BODY_LIMIT = 64 * 1024  # bytes of an answer read, at most
ERROR_LIMIT = 300  # characters of `lastError`


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
    """False for loopback, private, link-local, and every other non-global address; an IPv6
    address that carries an IPv4 one is judged by the IPv4 inside (every one it may carry)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    inside = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if inside is not None:
        return all(v4.is_global and not v4.is_multicast for v4 in inside)
    return ip.is_global and not ip.is_multicast


_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated, but a stack may still route it
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT (RFC 6145)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix (RFC 6052)
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local use (RFC 8215)
_NAT64_LOCAL_LENGTHS = (48, 56, 64, 96)  # where the IPv4 may sit: RFC 6052's prefix lengths


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address reaches wherever NAT64, SIIT, 6to4 or Teredo
    translate it; None if it carries none. Mapped, compatible, translated and NAT64 keep
    it in the last 32 bits; 6to4 after its prefix; Teredo holds a server and a client."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if any(ip in net for net in (_IPV4_COMPATIBLE, _IPV4_TRANSLATED, _NAT64)):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in _NAT64_LOCAL:
        return [_rfc6052(int(ip), length) for length in _NAT64_LOCAL_LENGTHS]
    return None


def _rfc6052(value: int, prefix: int) -> ipaddress.IPv4Address:
    """The IPv4 in an IPv6 address built by RFC 6052 for a prefix of `prefix` bits: its 32
    bits follow the prefix, skipping bits 64 to 71 (the "u" octet)."""
    bits = f"{value:0128b}"
    after = (bits[:64] + bits[72:])[prefix if prefix < 64 else prefix - 8:]
    return ipaddress.IPv4Address(int(after[:32], 2))


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a literal address resolves to itself)."""
    host = ascii_host(host)
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    # Not wait_for, which on Python 3.11 loses a stop's cancellation that meets the answer:
    # the attempt would run on (up to its timeout) past the stop's drain.
    async with asyncio.timeout(RESOLVE_SECONDS):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class PrivateAddress(Exception):
    """The host resolves to an address webhooks may not reach."""


async def public_addresses(host: str, port: int) -> list[str]:
    """The host's addresses if every one is public; else PrivateAddress."""
    addresses = await resolve(host, port)
    if not addresses or not all(is_public(a) for a in addresses):
        # Never which address: a tenant would map the operator's internal DNS with it.
        raise PrivateAddress(f"{host} resolves to a loopback, private or link-local address")
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


async def open_checked(allow_private: bool, ssl_context: ssl.SSLContext, scheme: str,
                       host: str, port: int) -> Streams:
    """A connection to `host`, made to an address just checked (unless private ones are
    allowed); TLS verifies the certificate against `host`."""
    try:
        addresses = await (resolve(host, port) if allow_private
                           else public_addresses(host, port))
    except PrivateAddress as error:
        raise httpx.ConnectError(str(error)) from None
    except (OSError, UnicodeError, TimeoutError) as error:
        raise httpx.ConnectError(f"{host} does not resolve: {error}") from None
    tls = scheme == "https"
    failure: OSError | None = None
    for address in addresses:
        try:
            return await asyncio.open_connection(
                address, port, ssl=ssl_context if tls else None,
                server_hostname=ascii_host(host) if tls else None)
        except OSError as error:
            failure = error
    assert failure is not None
    if isinstance(failure, ssl.SSLError):
        raise failure  # about the certificate, checked against the host name
    # The OSError names the address connected to: say why by the host the tenant gave.
    why = os.strerror(failure.errno) if failure.errno else type(failure).__name__
    raise httpx.ConnectError(f"cannot connect to {host} port {port}: {why}") from None


def make_client(timeout: float, allow_private: bool, connections: int,
                ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """A keep-alive client that follows no redirects, reads no proxy settings from the
    environment, and connects only where `open_checked` lets it."""
    context = ssl_context or httpx.create_ssl_context()
    transport = H11Transport(functools.partial(open_checked, allow_private, context),
                             connections, total=timeout)
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False,
                             trust_env=False)


async def attempt(client: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str],
                  timeout: float) -> tuple[int | None, str | None]:
    """POST once: (status, None) on a 2xx answer within `timeout`, else (status or None,
    why it failed). Redirects are failures; at most BODY_LIMIT bytes of the answer are read."""
    try:
        async with asyncio.timeout(timeout), client.stream(
                "POST", url, content=content, headers=headers) as response:
            answer = await _read_some(response)
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"[:ERROR_LIMIT]
    status = response.status_code
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirects are not followed"
    text = answer.decode("utf-8", "replace").strip()
    return status, (f"HTTP {status}" + (f": {text}" if text else ""))[:ERROR_LIMIT]


async def _read_some(response: httpx.Response) -> bytes:
    """Up to BODY_LIMIT bytes of the answer (raw: a compressed bomb is not unpacked)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= BODY_LIMIT:
            break
    return b"".join(chunks)[:BODY_LIMIT]
