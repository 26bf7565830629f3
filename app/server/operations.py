"""What every GraphQL operation gets, over HTTP and over a WebSocket alike: a context
of its own (so that it takes its own token of the key's rate limit) and a time budget."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

from pymongo.errors import ExecutionTimeout
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.backends.metrics import name_request
from app.backends.reads import deadline_in
from app.core import TrackerError
from resolvers.context import Context

log = logging.getLogger("tracker.graphql")


class OperationContext(SchemaExtension):
    """Gives each operation its own copy of the request's or connection's context.

    Over HTTP that changes nothing (one request, one operation); over a WebSocket
    every operation then takes a token from its key's bucket, as a request would.
    """

    def on_operation(self) -> Iterator[None]:
        # Synchronous on purpose: nothing may suspend before the shared (cached) parsing
        # and validation extensions have read their execution context.
        context = self.execution_context.context
        if isinstance(context, Context):
            self.execution_context.context = context.for_operation()
        yield


class OverBudget(TrackerError):
    """The request ran out of time. INTERNAL, as the tracker retries those."""

    code = "INTERNAL"


class TimeBudget(SchemaExtension):
    """Ends a query or mutation that runs longer than `seconds`.

    The server goes on serving others meanwhile (everything awaits storage, and the
    embedded store scans in worker threads), but an answer nobody waits for any more is
    no use, and its work holds memory and storage: the deadline goes with every read
    (app/backends/reads.py: `maxTimeMS` on MongoDB, a stop in the worker thread on the
    embedded store), so the work ends with the budget, not only the answer.
    A tracking mutation cut short is safe to retry: every step is idempotent.
    Subscriptions run as long as their client wants.
    """

    def __init__(self, *, seconds: float) -> None:
        self.seconds = seconds

    async def on_execute(self) -> AsyncIterator[None]:
        if self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            yield
            return
        try:
            with deadline_in(self.seconds):
                async with asyncio.timeout(self.seconds):
                    yield
        except (TimeoutError, ExecutionTimeout):
            error_id = uuid.uuid4().hex[:12]
            log.warning("request %s ran past its time budget of %ss", error_id, self.seconds)
            raise OverBudget(
                f"the request took longer than its time budget of {self.seconds:g} s "
                f"and was stopped; reference {error_id}",
                errorId=error_id, timeoutSeconds=self.seconds) from None


class NameKind(SchemaExtension):
    """Names the HTTP request's operation kind for its timing: track, query or mutation."""

    def on_execute(self) -> Iterator[None]:
        operation = self.execution_context.operation_type
        if operation is OperationType.MUTATION and _only_track(self.execution_context):
            name_request("track")
        elif operation in (OperationType.QUERY, OperationType.MUTATION):
            name_request(operation.value)
        yield


def _only_track(execution_context: object) -> bool:
    document = getattr(execution_context, "graphql_document", None)
    if document is None:
        return False
    for definition in document.definitions:
        selections = getattr(getattr(definition, "selection_set", None), "selections", None)
        if selections and getattr(definition, "operation", None) is not None:
            return all(getattr(getattr(s, "name", None), "value", None) == "track"
                       for s in selections)
    return False
