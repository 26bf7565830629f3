"""Keys out of the server's logs: uvicorn logs every URL, query string included.

Whoever puts a key in a URL (`?key=`, `?apiKey=`, `?token=`, `?access_token=`,
`?Authorization=`, ...) finds it redacted in the access log and in the WebSocket
lines: any query parameter whose name says key, token, auth, secret, password,
signature or hash.

`TRACKER_LOG_FORMAT=json` writes every line (the server's, uvicorn's, the access
log) as one JSON object: time (UTC, ISO 8601), level, logger, message, and for
an access line the request's client, method, path, HTTP version and status;
an exception's traceback under `exc`. The same redaction applies: to the
message and to each field.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

SECRET_PARAMETER = re.compile(
    r"(?i)([?&;][^=&#\s\"]*(?:key|token|auth|secret|passw|signature|hash)[^=&#\s\"]*=)"
    r"[^&#;\s\"]*")
REDACTED = "[REDACTED]"
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    return SECRET_PARAMETER.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and arguments, never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_server_logs() -> None:
    """Install the filter on uvicorn's loggers (once, however often the app starts)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class JsonFormatter(logging.Formatter):
    """One JSON object a line; keys in URLs redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) \
                and len(record.args) == len(ACCESS_FIELDS):
            line.update((name, redact(v) if isinstance(v, str) else v)
                        for name, v in zip(ACCESS_FIELDS, record.args, strict=True))
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def log_config(log_format: str, level: str) -> dict[str, Any]:
    """`logging.config.dictConfig` for the server: uvicorn's loggers and ours, as text or JSON."""
    if log_format not in ("text", "json"):
        raise SystemExit(f"TRACKER_LOG_FORMAT must be text or json, not {log_format!r}")
    formatter = {"()": JsonFormatter} if log_format == "json" else {
        "format": "%(levelname)s %(name)s %(message)s"}
    handler = {"class": "logging.StreamHandler", "formatter": "default",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"level": level.upper()},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"level": level.upper()},
        },
    }
