"""`python -m app` / `tracker-server`: run the server."""

from __future__ import annotations

import argparse
import gc
import logging

import uvicorn

from app.server.asgi import create_app
from app.server.protocol import server_options
from app.settings import Settings


def banner(settings: Settings, demo: tuple[int, str | None] | None) -> str:
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        "  smartcom-tracker is running",
        f"  GraphiQL:   {base}/graphql" + ("" if settings.graphiql else " (GraphiQL off)"),
        f"  Demo shop:  {base}/demo",
        f"  Dashboard:  {base}/dashboard   (sign in with a shop key, or the admin key and a "
        "shop id)",
        f"  Storage:    {settings.mongodb_url}    Broker: {settings.redis_url}",
    ]
    if "admin_key" in settings.generated:
        lines.append(f"  Admin key:  {settings.admin_key}   (generated; set TRACKER_ADMIN_KEY)")
    if demo:
        shop_id, key = demo
        key_note = f", shop key: {key}" if key else ""
        lines.append(f"  Demo shop {shop_id}, source 'site'{key_note}")
    lines.append(
        '  Try it:     {"Authorization": "Bearer <key>"} in GraphiQL\'s headers, then '
        "query { events(shopId: 1) { nodes { type occurredAt } } }"
    )
    return "\n".join(lines) + "\n"


def freeze_startup_heap() -> None:
    """Keep the garbage collector off what start-up built.

    The schema, libraries and platform live as long as the process; without
    this every full collection walks them again (45-80 ms pauses under load,
    bench/FINDINGS.md).
    """
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tracker-server", description=__doc__)
    parser.add_argument("--host", help="interface to listen on (TRACKER_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (TRACKER_PORT)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.host:
        settings = settings.with_(host=args.host)
    if args.port:
        settings = settings.with_(port=args.port)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")

    def started(demo: tuple[int, str | None] | None) -> None:
        print(banner(settings, demo), flush=True)
        freeze_startup_heap()

    app = create_app(settings, on_started=started)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level,
                **server_options(settings.max_header_bytes))

