"""Errors a client can act on; each carries the contract's `extensions.code`."""

from __future__ import annotations


class TrackerError(Exception):
    code = "INTERNAL"

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
