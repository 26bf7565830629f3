"""Keys out of the server's logs: uvicorn logs every URL, query string included.

Whoever puts a key in a URL (`?key=`, `?apiKey=`, `?token=`, `?access_token=`,
`?Authorization=`, ...) finds it redacted in the access log and in the WebSocket
lines: any query parameter whose name says key, token, auth, secret, password,
signature or hash.
"""

from __future__ import annotations

import logging
import re

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
