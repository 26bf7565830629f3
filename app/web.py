"""The browser side of the server: the tracker script, the demo shop, and CORS.

- ``GET /tracker.js``: ``app/static/tracker.min.js`` (built from ``tracker_js/``
  and committed), with a strong ``ETag`` (a hash of the content), a day of
  caching and ``304 Not Modified`` on a matching ``If-None-Match``.
- ``GET /demo``: the demo shop (``app/static/demo.html``), wired to the snippet.
- ``GET /dashboard`` (+ ``/dashboard.js``, ``/dashboard.css``): the shop's
  dashboard, built from ``dashboard_js/`` and committed; revalidated by ETag on
  every load (``no-cache``) so a new build shows at once, under a strict CSP.
- :class:`TrackerCORS`: pure ASGI middleware answering the browser's CORS needs
  on ``/graphql``. The tracker itself sends ``text/plain`` bodies, so it never
  triggers a preflight; dashboards on other origins that send
  ``Authorization`` do, and get one here. Refusing tracker events from origins
  outside a shop's ``allowedOrigins`` is done in the pipeline, not here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
TRACKER_FILE = STATIC / "tracker.min.js"
DEMO_FILE = STATIC / "demo.html"
# The dashboard holds an API key: it runs only its own script, talks only to its
# own origin (HTTP and WebSocket), and cannot be framed.
DASHBOARD_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                 "frame-ancestors 'none'")

TRACKER_CACHE_CONTROL = "public, max-age=86400"
CORS_PATHS = frozenset({"/graphql", "/graphql/"})
CORS_ALLOW_HEADERS = "content-type, authorization"
CORS_ALLOW_METHODS = "POST, GET, OPTIONS"
CORS_MAX_AGE = "86400"


@dataclass(frozen=True)
class _Asset:
    body: bytes
    etag: str
    stamp: tuple[int, int]


_cache: dict[Path, _Asset] = {}


def _asset(path: Path) -> _Asset:
    """The file's bytes and strong ETag, re-read only when the file changes."""
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _cache.get(path)
    if cached is None or cached.stamp != stamp:
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        cached = _cache[path] = _Asset(body, etag, stamp)
    return cached


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/"x" matches "x"."""
    if header.strip() == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def _serve(
    request: Request, path: Path, media_type: str, headers: dict[str, str], missing: str
) -> Response:
    """A static file with its strong ETag; 304 when the client has it; 404 saying why not."""
    try:
        asset = _asset(path)
    except OSError:
        return Response(missing, status_code=404, media_type=media_type)
    headers = {"ETag": asset.etag, "X-Content-Type-Options": "nosniff", **headers}
    if _etag_matches(request.headers.get("if-none-match", ""), asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=media_type, headers=headers)


async def tracker_js(request: Request) -> Response:
    return _serve(request, TRACKER_FILE, "application/javascript", {
        "Cache-Control": TRACKER_CACHE_CONTROL,
        # loadable from any shop, also with crossorigin/SRI or under COEP
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }, "/* tracker.min.js is missing: run `npm run build` in tracker_js/ */\n")


async def demo(request: Request) -> Response:
    return _serve(request, DEMO_FILE, "text/html", {"Cache-Control": "no-cache"},
                  "demo page missing\n")


def _dashboard_file(name: str, media_type: str) -> Any:
    headers = {"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"}
    if media_type == "text/html":
        headers["Content-Security-Policy"] = DASHBOARD_CSP
    missing = f"{name} is missing: run `npm run build` in dashboard_js/\n"
    if media_type != "text/html":
        missing = f"/* {missing.strip()} */\n"

    async def serve(request: Request) -> Response:
        return _serve(request, STATIC / name, media_type, headers, missing)

    return serve


routes: list = [
    Route("/tracker.js", tracker_js, methods=["GET", "HEAD"], name="tracker_js"),
    Route("/demo", demo, methods=["GET", "HEAD"], name="demo"),
    Route("/dashboard", _dashboard_file("dashboard.html", "text/html"), methods=["GET", "HEAD"],
          name="dashboard"),
    Route("/dashboard.js", _dashboard_file("dashboard.js", "application/javascript"),
          methods=["GET", "HEAD"], name="dashboard_js"),
    Route("/dashboard.css", _dashboard_file("dashboard.css", "text/css"),
          methods=["GET", "HEAD"], name="dashboard_css"),
]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


class TrackerCORS:
    """CORS for ``/graphql``: echoes the request's ``Origin`` and answers preflights.

    Pure ASGI, so it does not buffer or touch streaming responses and leaves
    WebSocket and lifespan traffic alone.
    """

    def __init__(self, app: ASGIApp, paths: frozenset[str] = CORS_PATHS) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if (
            origin
            and scope.get("method") == "OPTIONS"
            and _header(scope, b"access-control-request-method") is not None
        ):
            await self._preflight(origin, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                vary: list[str] = []
                for key, value in message.get("headers", []):
                    name = key.lower()
                    if name == b"vary":
                        vary += [p.strip() for p in value.decode("latin-1").split(",") if p.strip()]
                    elif name != b"access-control-allow-origin":
                        headers.append((key, value))
                if not any(p.lower() == "origin" for p in vary):
                    vary.append("Origin")
                headers.append((b"vary", ", ".join(vary).encode("latin-1")))
                if origin:
                    headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
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
