"""`python -m app` / `tracker-server`: run the server (`python -m app rebuild-stats …`:
rebuild a shop's traffic rollups, app/server/rebuild_cli.py).

On SIGTERM (or Ctrl-C) the process stops listening, lets the requests under way
and the webhook attempts it holds finish within `TRACKER_SHUTDOWN_SECONDS`
(15 s), gives back what is left, and exits 0: a clean stop is not a failure.
(uvicorn would re-raise the signal after its graceful stop, so that the process
died of it; an orchestrator would count that as a crash.)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from app.server import rebuild_cli
from app.server.asgi import create_app
from app.server.logs import JsonFormatter, log_config
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


class CleanStop(uvicorn.Server):
    """uvicorn's server that notes when the stop was asked and exits normally after it."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.tracker_app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            self.tracker_app.state.stop_requested_at = time.monotonic()
            self.tracker_app.state.stopping = True  # /readyz says so from now on
            logging.getLogger("tracker.server").info(
                "stopping on %s: finishing the work under way", signal.Signals(sig).name)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["rebuild-stats"]:  # the one other command (app/server/rebuild_cli.py)
        sys.exit(rebuild_cli.main(argv[1:]))
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
    options: dict[str, Any] = {}
    if settings.log_format != "text":
        options["log_config"] = log_config(settings.log_format, args.log_level)

    def started(demo: tuple[int, str | None] | None) -> None:
        text = banner(settings, demo)
        if settings.log_format == "json":  # every line of output is a JSON object
            text = JsonFormatter().format(logging.makeLogRecord(
                {"name": "tracker.server", "levelno": logging.INFO, "levelname": "INFO",
                 "msg": text.strip("\n")}))
        print(text, flush=True)
        freeze_startup_heap()

    app = create_app(settings, on_started=started)
    config = uvicorn.Config(app, host=settings.host, port=settings.port,
                            log_level=args.log_level,
                            # uvicorn types it int; asyncio.timeout takes any number
                            timeout_graceful_shutdown=settings.shutdown_seconds or None,
                            **options, **server_options(settings.max_header_bytes))
    CleanStop(config, app).run()

