"""Every GraphQL error gets the contract's code; unexpected ones become INTERNAL with an id."""

from __future__ import annotations

import logging
import uuid

from graphql import GraphQLError

from app.errors import TrackerError

log = logging.getLogger("tracker.graphql")


def code_error(error: GraphQLError) -> None:
    original = error.original_error
    if isinstance(original, TrackerError):
        error.extensions = {**(error.extensions or {}), **original.extensions}
        return
    if original is None or isinstance(original, GraphQLError):
        # Parsing and validation: the document or its variables are wrong.
        error.extensions = {**(error.extensions or {}), "code": "BAD_INPUT"}
        return
    error_id = uuid.uuid4().hex[:12]
    log.error("internal error %s", error_id, exc_info=original)
    error.message = f"internal error; reference {error_id}"
    error.extensions = {"code": "INTERNAL", "errorId": error_id}
