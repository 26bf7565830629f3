"""GraphQL over HTTP and WebSocket: the schema with its limits and coded errors, and the view."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import uuid
from collections.abc import AsyncGenerator
from typing import Any, NoReturn

import strawberry
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.http.exceptions import NonTextMessageReceived
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionContext
from strawberry.types import ExecutionResult as StrawberryExecutionResult
from strawberry.types.graphql import OperationType

from app.backends.metrics import name_request
from app.core import TrackerError, http_status
from app.server import boundary, fastpath
from app.server.cost import QueryCost
from app.server.errors import code_error
from app.server.operations import NameKind, OperationContext, TimeBudget
from app.settings import Settings
from resolvers.context import Context
from resolvers.root import Mutation, Query, Subscription

log = logging.getLogger("tracker.graphql")
BODY_KEYS = frozenset({"query", "variables", "operationName", "extensions"})


# graphql-core's hint after an unknown name: " Did you mean 'identifySecret'?"
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class TrackerSchema(strawberry.Schema):
    """Gives every error the contract's code; unexpected ones become INTERNAL with an id.

    With introspection off, errors do not suggest names either: a suggestion would
    give the schema away one guess at a time.
    """

    suggestions = True

    async def execute(self, *args: Any, **kwargs: Any) -> StrawberryExecutionResult:
        # A subscription is served by subscribe() (WebSocket) or stream() (multipart);
        # a plain HTTP request would run its resolver as a field and fail. Refused here,
        # it is a 400 BAD_INPUT ("subscriptions are not allowed when using POST").
        allowed = kwargs.get("allowed_operation_types") or DEFAULT_ALLOWED_OPERATION_TYPES
        kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        return await super().execute(*args, **kwargs)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            code_error(error)
            if not self.suggestions:
                error.message = SUGGESTION.sub("", error.message)



def build_schema(settings: Settings) -> TrackerSchema:
    extensions: list[Any] = [
        OperationContext,
        NameKind,
        ParserCache(maxsize=1024),
        ValidationCache(maxsize=1024),
        QueryDepthLimiter(max_depth=12),
        MaxAliasesLimiter(max_alias_count=30),
        MaxTokensLimiter(max_token_count=4000),
        # Per request (factories): these keep state across a suspension.
        functools.partial(QueryCost, max_cost=settings.max_query_cost),
        functools.partial(TimeBudget, seconds=settings.request_timeout_seconds),
        boundary.LongNumbers(),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection())
    schema = TrackerSchema(query=Query, mutation=Mutation, subscription=Subscription,
                           extensions=extensions)
    schema.suggestions = settings.introspection
    return schema


def _error_body(message: str, code: str) -> bytes:
    return json.dumps({"data": None,
                       "errors": [{"message": message, "extensions": {"code": code}}]}).encode()


class _WebSocketAdapter(ASGIWebSocketAdapter):
    async def iter_json(self, *, ignore_parsing_errors: bool = False
                        ) -> AsyncGenerator[object, None]:
        """Each frame, read by the boundary; one it cannot read, or that is no message of
        either protocol, closes the connection with 4400 (both protocols alike)."""
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                try:
                    message = boundary.loads(text)
                    problem = boundary.frame_problem(message)
                except boundary.Undecodable as error:
                    problem = error.reason
                if problem is not None:
                    log.info("WebSocket message refused: %s", problem)
                    await self.close(4400, problem)
                    return
                yield message
        except KeyError as error:  # a binary frame
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass

    async def close(self, code: int, reason: str) -> None:
        # Say why a connection was refused, not only "Forbidden".
        reason = getattr(self.ws.state, "reject_reason", None) or reason
        # A close frame carries at most 123 bytes of reason.
        await super().close(code, reason.encode()[:123].decode(errors="ignore"))


class _LegacyWSHandler(BaseGraphQLWSHandler):
    """`graphql-ws` (the legacy protocol), closed with 4408 when `connection_init` is late,
    as strawberry closes `graphql-transport-ws` connections."""

    init_received = False

    async def handle(self) -> None:
        timer = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            timer.cancel()

    async def handle_connection_init(self, message: Any) -> None:
        self.init_received = True
        await super().handle_connection_init(message)

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.init_received:
            await self.websocket.close(code=4408, reason="Connection initialisation timeout")


class TrackerGraphQL(GraphQL):
    """Strawberry's view, with our context, key check on connect and coded errors."""

    websocket_adapter_class = _WebSocketAdapter  # type: ignore[assignment]
    graphql_ws_handler_class = _LegacyWSHandler

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(build_schema(settings), **kwargs)
        self.plans = fastpath.Plans() if settings.fast_path else None

    async def get_context(self, request: Any, response: Any) -> Context:  # type: ignore[override]
        # The platform is the lifespan's state, handed to every request and WebSocket.
        return Context(platform=request.state.platform, request=request, response=response)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        status = http_status(response_data)
        if status is not None:
            response.status_code = status
        return response

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override]
        try:
            principal = await context.principal()
            # A key holds a bounded number of connections (app/access/streams.py); the
            # share is given back when the connection ends (`__call__`).
            context.platform.streams.admit("connections", principal.key_id)
            context.request.state.stream_key = principal.key_id
        except TrackerError as error:
            self._reject(context, error.code, error.message)
        except Exception as error:
            # Whatever went wrong, the client gets a close frame that says so.
            error_id = uuid.uuid4().hex[:12]
            log.error("internal error %s", error_id, exc_info=error)
            self._reject(context, "INTERNAL", f"internal error; reference {error_id}")
        return None

    @staticmethod
    def _reject(context: Context, code: str, message: str) -> NoReturn:
        context.request.state.reject_reason = f"{code}: {message}"
        raise ConnectionRejectionError({"code": code, "message": message})

    def decode_json(self, data: str | bytes) -> object:
        value = boundary.loads(data)  # Undecodable: a 400 over HTTP, 4400 over a WebSocket
        if isinstance(value, dict) and "query" not in value:
            document = fastpath.persisted_document(value)  # a persisted query, by its hash
            if document is not None:
                value["query"] = document
        return value

    def parse_json(self, data: str | bytes) -> Any:
        try:
            value = self.decode_json(data)
        except boundary.Undecodable as error:
            raise HTTPException(400, f"the body cannot be read: {error.reason}") from None
        if not isinstance(value, dict | list):
            raise HTTPException(400, "the body must be a JSON object")
        return value

    async def _fast(self, request: Request) -> Response | None:
        """The tracker's `track` without the general machinery, or None when not sure."""
        if request.method != "POST" or request.headers.get("content-type", "").split(";")[0] \
                .strip() != "application/json":
            return None
        try:
            body = boundary.loads(await request.body())
        except boundary.Undecodable:
            return None  # Strawberry reads it again, and says what is wrong with it
        if not isinstance(body, dict) or set(body) - BODY_KEYS:
            return None
        document = body.get("query")
        if document is None:
            document = fastpath.persisted_document(body)
        plan = self.plans.get(document) if isinstance(document, str) else None
        if plan is None or body.get("operationName") not in (None, plan.operation_name):
            return None
        try:
            events, sent_at = fastpath.inputs_of(plan, body.get("variables"))
        except fastpath.NotSure:
            return None
        context = await self.get_context(request, None)
        name_request("track")
        answer = await fastpath.run(plan, context, events, sent_at)
        return self.create_response(answer, await self.get_sub_response(request))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            try:
                await super().__call__(scope, receive, send)
            finally:
                state = scope.get("state") or {}
                if state.get("stream_key") is not None:
                    state["platform"].streams.release("connections", state["stream_key"])
            return
        request = Request(scope, receive=receive)
        try:
            response = await self._fast(request) if self.plans is not None else None
            if response is None:
                response = await self.run(request)  # reads the body the fast path cached
        except HTTPException as error:
            response = Response(_error_body(error.reason, "BAD_INPUT"),
                                status_code=error.status_code, media_type="application/json")
        await response(scope, receive, send)


