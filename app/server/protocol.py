"""How uvicorn serves the app: our options, and an HTTP protocol that bounds a request's head.

uvicorn's httptools protocol buffers a request line and headers of any size (a
single 16 MB header was accepted). Here a head past `max_head_bytes` is answered
with 431 and the connection closed, counted as the bytes arrive, so no more than
that (plus one read) is ever held. Without httptools, uvicorn's h11 protocol
does the same with its own limit.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("tracker.server")


def server_options(max_head_bytes: int) -> dict[str, Any]:
    """uvicorn.Config / uvicorn.run keywords for this app.

    `proxy_headers` is off: the app reads X-Forwarded-For itself, from the proxies
    the settings trust (`app/server/proxies.py`).
    """
    return {"proxy_headers": False, **_http(max_head_bytes)}


def _http(max_head_bytes: int) -> dict[str, Any]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools: h11 counts what it buffers itself
        return {"http": "h11", "h11_max_incomplete_event_size": max_head_bytes}

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _in_head = False
        _head_bytes = 0

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._in_head or self.parser is None or self.transport.is_closing():
                return
            # A read that ends inside a head counts whole (with a pipelined request, the
            # end of the one before too): the limit is about memory, not exact bytes.
            self._head_bytes += len(data)
            if self._head_bytes > max_head_bytes:
                self._refuse()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._head_bytes = True, 0

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def _refuse(self) -> None:
            log.warning("request head from %s over %d bytes: refused with 431",
                        self.client[0] if self.client else "?", max_head_bytes)
            body = b"request header fields too large\n"
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
            self.transport.close()

    return {"http": BoundedHttpToolsProtocol}
