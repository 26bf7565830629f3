"""Errors a client can act on; each carries the contract's `extensions.code`."""

from __future__ import annotations


class TrackerError(Exception):
    code = "INTERNAL"
    status: int | None = None  # the HTTP status of a response carrying this error, if not 200

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def extensions(self) -> dict[str, object]:
        return {"code": self.code, **self.details}


class BadInput(TrackerError):
    code = "BAD_INPUT"


class Unauthenticated(TrackerError):
    code = "UNAUTHENTICATED"


class Forbidden(TrackerError):
    code = "FORBIDDEN"


class NotFound(TrackerError):
    code = "NOT_FOUND"


class RateLimited(TrackerError):
    code = "RATE_LIMITED"
    status = 429


STATUS_BY_CODE = {cls.code: cls.status for cls in TrackerError.__subclasses__() if cls.status}


def http_status(response: object) -> int | None:
    """The HTTP status a GraphQL response answers with: set by its errors' classes, else None."""
    if not isinstance(response, dict):
        return None
    codes = {(e.get("extensions") or {}).get("code") for e in response.get("errors") or ()}
    return next((STATUS_BY_CODE[c] for c in codes if c in STATUS_BY_CODE), None)
