"""The browser side of the server: the tracker script and the demo shop.

- ``GET /tracker.js``: ``app/static/tracker.min.js`` (built from ``tracker_js/``
  and committed), with a strong ``ETag`` (a hash of the content), a day of
  caching and ``304 Not Modified`` on a matching ``If-None-Match``.
- ``GET /demo``: the demo shop (``app/static/demo.html``), wired to the snippet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATIC = Path(__file__).resolve().parent.parent / "static"
TRACKER_FILE = STATIC / "tracker.min.js"
DEMO_FILE = STATIC / "demo.html"

TRACKER_CACHE_CONTROL = "public, max-age=86400"


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


async def tracker_js(request: Request) -> Response:
    try:
        asset = _asset(TRACKER_FILE)
    except OSError:
        return Response(
            "/* tracker.min.js is missing: run `npm run build` in tracker_js/ */\n",
            status_code=404,
            media_type="application/javascript",
        )
    headers = {
        "ETag": asset.etag,
        "Cache-Control": TRACKER_CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        # loadable from any shop, also with crossorigin/SRI or under COEP
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if _etag_matches(request.headers.get("if-none-match", ""), asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type="application/javascript", headers=headers)


async def demo(request: Request) -> Response:
    try:
        asset = _asset(DEMO_FILE)
    except OSError:
        return Response("demo page missing\n", status_code=404, media_type="text/plain")
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if _etag_matches(request.headers.get("if-none-match", ""), asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type="text/html", headers=headers)


routes: list = [
    Route("/tracker.js", tracker_js, methods=["GET", "HEAD"], name="tracker_js"),
    Route("/demo", demo, methods=["GET", "HEAD"], name="demo"),
]
