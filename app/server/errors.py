"""Every GraphQL error gets the contract's code; unexpected ones become INTERNAL with an id."""

from __future__ import annotations

import logging
import uuid

from graphql import GraphQLError
from pymongo.errors import ExecutionTimeout
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from app.core import TrackerError

log = logging.getLogger("tracker.graphql")


# Errors Strawberry raises for an operation the transport cannot run: the client's mistake.
_WRONG_OPERATION = (InvalidOperationTypeError, CannotGetOperationTypeError, MissingQueryError)


def code_error(error: GraphQLError) -> None:
    original = error.original_error
    if isinstance(original, TrackerError):
        error.extensions = {**(error.extensions or {}), **original.extensions}
        return
    if original is None or isinstance(original, (GraphQLError, *_WRONG_OPERATION)):
        # Parsing and validation: the document or its variables are wrong (or, over the
        # legacy graphql-ws protocol, the operation is not a subscription).
        error.extensions = {**(error.extensions or {}), "code": "BAD_INPUT"}
        return
    if _lone_surrogate(original):
        # Text with no UTF-8 form met storage or a hash: the client's value, not our bug.
        log.info("refused text holding a lone surrogate at %s", error.path)
        error.message = "a text value holds a lone surrogate, which is not text"
        error.extensions = {"code": "BAD_INPUT"}
        return
    error_id = uuid.uuid4().hex[:12]
    if isinstance(original, ExecutionTimeout):
        # A read stopped at the request's deadline (maxTimeMS, or the embedded store's
        # worker): the time budget, said as app/server/operations.py says it.
        log.warning("request %s ran past its time budget (a read was stopped)", error_id)
        error.message = ("the request took longer than its time budget and was stopped; "
                         f"reference {error_id}")
        error.extensions = {"code": "INTERNAL", "errorId": error_id}
        return
    log.error("internal error %s", error_id, exc_info=original)
    error.message = f"internal error; reference {error_id}"
    error.extensions = {"code": "INTERNAL", "errorId": error_id}


def _lone_surrogate(error: BaseException) -> bool:
    return isinstance(error, UnicodeEncodeError) and "surrogate" in str(error.reason)
