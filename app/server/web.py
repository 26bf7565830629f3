"""The browser side of the server: the tracker script and the demo shop.

- ``GET /tracker.js``: ``app/static/tracker.min.js`` (built from ``tracker_js/``
  and committed), with a strong ``ETag`` (a hash of the content), a day of
  caching and ``304 Not Modified`` on a matching ``If-None-Match``.
- ``GET /demo``: the demo shop (``app/static/demo.html``), wired to the snippet.
- ``GET /dashboard`` (+ ``/dashboard.js``, ``/dashboard.css``): the shop's
  dashboard, built from ``dashboard_js/`` and committed; revalidated by ETag on
  every load (``no-cache``) so a new build shows at once, under a strict CSP.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATIC = Path(__file__).resolve().parent.parent / "static"
TRACKER_FILE = STATIC / "tracker.min.js"
DEMO_FILE = STATIC / "demo.html"

TRACKER_CACHE_CONTROL = "public, max-age=86400"
# The dashboard holds an API key: it runs only its own script, talks only to its
# own origin (HTTP and WebSocket), and cannot be framed. Images may come from https
# addresses: the shop's product pictures (the catalog view, docs/catalog.md).
DASHBOARD_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                 "img-src 'self' data: https:; connect-src 'self'; base-uri 'none'; "
                 "form-action 'none'; "
                 "frame-ancestors 'none'")


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
