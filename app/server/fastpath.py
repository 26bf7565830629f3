"""The tracker's fast path: the `track` mutation answered without the general GraphQL machinery.

Every browser of every shop sends the same small document, so it is compiled
once (cached by its text, or named by its hash as an Apollo-style persisted
query) into a direct call of the tracking pipeline and a serializer of
`TrackResult`. A document qualifies when it is one mutation with one field,
`track(events: $e, sentAt: $s)`, selecting only scalar fields of TrackResult.

Its variables are then checked as graphql-core would coerce them. Anything the
checks are not sure about (a wrong type, an unknown key, a number out of range,
a null where one is not allowed) answers None, and the request goes through
Strawberry, which answers it as always. The answer is built as Strawberry
builds it: the same errors (through the same `code_error`), paths, locations,
HTTP status and JSON bytes (tests/server/test_fastpath.py proves it on generated input).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import GraphQLError, Source, parse, print_ast
from graphql.language import FieldNode, OperationDefinitionNode, OperationType, VariableNode
from strawberry.schema.types.base_scalars import DateTimeDefinition

from app import tracking
from app.core import MAX_BATCH, BadInput, Context, EventInput, EventType
from app.server.errors import code_error

# The tracker's own document (tracker_js/src/tracker.js sends it by its hash).
TRACKER_DOCUMENT = (
    "mutation($e:[TrackInput!]!,$s:DateTime){track(events:$e,sentAt:$s){eventId}}"
)
PERSISTED = {hashlib.sha256(d.encode()).hexdigest(): d for d in (TRACKER_DOCUMENT,)}

RESULT_FIELDS = {"eventId": "event_id", "duplicate": "duplicate", "sessionId": "session_id",
                 "newSession": "new_session", "userId": "user_id"}
INT_RANGE = range(-(2**31), 2**31)
SAFE_FLOAT = 2**53  # a larger whole number may not convert to a float exactly: not sure
CACHED = 256  # documents remembered, qualifying or not

class NotSure(Exception):
    """The fast path cannot promise Strawberry's answer: let Strawberry give it."""


@dataclass(frozen=True)
class Plan:
    """A compiled `track` document."""

    source: Source
    position: int  # of the `track` field, for error locations
    operation_name: str | None
    events_var: str
    sent_at_var: str | None
    sent_at_required: bool
    fields: tuple[tuple[str, str | None], ...]  # response key, TrackResult attribute


def compile_document(document: str) -> Plan | None:
    """The plan for a qualifying document, else None (Strawberry then answers it)."""
    try:
        return _compile(parse(document))
    except (GraphQLError, AttributeError, TypeError, KeyError, RecursionError):
        return None  # not a document this path understands: it proves nothing about others


def _compile(tree: Any) -> Plan | None:
    if len(tree.definitions) != 1:
        return None
    op = tree.definitions[0]
    if not isinstance(op, OperationDefinitionNode) or op.operation != OperationType.MUTATION \
            or op.directives or len(op.selection_set.selections) != 1:
        return None
    field = op.selection_set.selections[0]
    if not isinstance(field, FieldNode) or field.name.value != "track" or field.alias \
            or field.directives or field.selection_set is None:
        return None
    variables = {v.variable.name.value: (print_ast(v.type), v)
                 for v in op.variable_definitions or ()}
    if any(v.default_value is not None or v.directives for _, v in variables.values()):
        return None
    arguments = {a.name.value: a.value for a in field.arguments or ()}
    if set(arguments) - {"events", "sentAt"} or "events" not in arguments \
            or not all(isinstance(v, VariableNode) for v in arguments.values()):
        return None
    used = {name: value.name.value for name, value in arguments.items()}  # type: ignore[attr-defined]
    if sorted(used.values()) != sorted(variables) or len(set(used.values())) != len(used):
        return None  # unused or undefined variables are validation errors: Strawberry says so
    if variables[used["events"]][0] != "[TrackInput!]!":
        return None
    sent_at = used.get("sentAt")
    if sent_at is not None and variables[sent_at][0] not in ("DateTime", "DateTime!"):
        return None
    fields = _result_fields(field)
    if fields is None:
        return None
    return Plan(
        source=tree.loc.source, position=field.loc.start if field.loc else 0,
        operation_name=op.name.value if op.name else None, events_var=used["events"],
        sent_at_var=sent_at, sent_at_required=bool(sent_at) and variables[sent_at][0][-1] == "!",
        fields=fields,
    )


def _result_fields(field: FieldNode) -> tuple[tuple[str, str | None], ...] | None:
    out: list[tuple[str, str | None]] = []
    for selection in field.selection_set.selections:  # type: ignore[union-attr]
        if not isinstance(selection, FieldNode) or selection.arguments or selection.directives \
                or selection.selection_set is not None:
            return None
        name = selection.name.value
        if name != "__typename" and name not in RESULT_FIELDS:
            return None
        key = selection.alias.value if selection.alias else name
        if any(k == key for k, _ in out):
            return None  # merged fields: leave the rules of merging to graphql-core
        out.append((key, RESULT_FIELDS.get(name)))
    return tuple(out) if out else None


class Plans:
    """Compiled documents, by their text; persisted ones by their hash as well."""

    def __init__(self) -> None:
        self._plans: OrderedDict[str, Plan | None] = OrderedDict()

    def get(self, document: str) -> Plan | None:
        if document in self._plans:
            self._plans.move_to_end(document)
            return self._plans[document]
        plan = compile_document(document)
        self._plans[document] = plan
        if len(self._plans) > CACHED:
            self._plans.popitem(last=False)
        return plan


def persisted_document(body: dict[str, Any]) -> str | None:
    """The document a body names by its persisted-query hash, if it is one we know."""
    extensions = body.get("extensions")
    if not isinstance(extensions, dict):
        return None
    persisted = extensions.get("persistedQuery")
    if not isinstance(persisted, dict):
        return None
    return PERSISTED.get(str(persisted.get("sha256Hash")))


# -- variables, coerced as graphql-core would (or NotSure) -------------------------


def _string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    raise NotSure


def _int(value: Any) -> Any:
    if type(value) is int and value in INT_RANGE:
        return value
    raise NotSure


def _float(value: Any) -> Any:
    if type(value) in (int, float) and abs(value) < SAFE_FLOAT:
        return float(value)
    raise NotSure


# The form the tracker sends (toISOString), which the standard library parses fast and
# exactly as dateutil does; any other form goes through dateutil, Strawberry's parser.
PLAIN_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?(Z|[+-]\d\d:\d\d)")


def _datetime(value: Any) -> Any:
    if not isinstance(value, str):
        raise NotSure
    try:
        if PLAIN_TIME.fullmatch(value):
            return datetime.fromisoformat(value)
        return DateTimeDefinition.parse_value(value)  # type: ignore[misc]
    except Exception:
        raise NotSure from None


def _json(value: Any) -> Any:
    return value


INPUT_FIELDS = {  # GraphQL name -> (EventInput attribute, coercion)
    "categoryId": ("category_id", _string), "productId": ("product_id", _string),
    "pageName": ("page_name", _string), "userId": ("user_id", _string),
    "userHash": ("user_hash", _string), "quantity": ("quantity", _int),
    "price": ("price", _float), "orderId": ("order_id", _string),
    "eventName": ("event_name", _string), "properties": ("properties", _json),
}
CONTEXT_FIELDS = {
    "shopId": ("shop_id", _int), "visitorId": ("visitor_id", _string),
    "sourceId": ("source_id", _string), "eventId": ("event_id", _string),
    "occurredAt": ("occurred_at", _datetime), "url": ("url", _string),
    "referrer": ("referrer", _string), "identityToken": ("identity_token", _string),
    "sentAt": ("sent_at", _datetime),
}


def _object(value: Any, spec: dict[str, tuple[str, Any]], required: tuple[str, ...]
            ) -> dict[str, Any]:
    """The fields of an input object, by attribute name, each coerced; null is None."""
    if not isinstance(value, dict):
        raise NotSure
    out = {}
    for key, given in value.items():
        attr, coerce = spec.get(key, (None, None))
        if attr is None:
            raise NotSure  # an unknown field
        out[attr] = None if given is None else coerce(given)
    for key in required:
        if value.get(key) is None:
            raise NotSure
    return out


# By name, as graphql-core reads an enum value. A plain dict: `EventType.__members__`
# builds a new mapping proxy at every look-up, a fifth of a 100-event batch's own time.
EVENT_TYPES: dict[str, EventType] = {t.name: t for t in EventType}


def event_input(item: Any) -> EventInput:
    if not isinstance(item, dict):
        raise NotSure
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise NotSure
    fields = _object({k: v for k, v in item.items() if k != "type" and k != "context"},
                     INPUT_FIELDS, ())
    context = Context(**_object(item.get("context"), CONTEXT_FIELDS, ("shopId", "visitorId")))
    return EventInput(type=EVENT_TYPES[kind], context=context, **fields)


def inputs_of(plan: Plan, variables: Any) -> tuple[list[EventInput], Any]:
    allowed = {plan.events_var, plan.sent_at_var} - {None}
    if not isinstance(variables, dict) or set(variables) - allowed:
        raise NotSure
    events = variables.get(plan.events_var)
    if not isinstance(events, list):
        raise NotSure  # graphql-core would wrap a single value in a list: leave that to it
    if plan.sent_at_required and variables.get(plan.sent_at_var) is None:  # type: ignore[arg-type]
        raise NotSure
    sent_at = variables.get(plan.sent_at_var) if plan.sent_at_var else None
    sent_at = None if sent_at is None else _datetime(sent_at)
    return [event_input(item) for item in events], sent_at


# -- running and answering ---------------------------------------------------------


def _error(plan: Plan, error: Exception, path: list[str | int]) -> dict[str, Any]:
    located = GraphQLError(str(error), source=plan.source, positions=[plan.position],
                           path=path, original_error=error)
    code_error(located)
    return located.formatted  # type: ignore[return-value]


def _node(plan: Plan, result: tracking.TrackResult) -> dict[str, Any]:
    return {key: ("TrackResult" if attr is None else getattr(result, attr))
            for key, attr in plan.fields}


async def run(plan: Plan, context: Any, events: list[EventInput], sent_at: Any
              ) -> dict[str, Any]:
    """Execute the plan: what `resolvers.tracking.track` does, answered as GraphQL would."""
    try:
        if len(events) > MAX_BATCH:
            raise BadInput(f"a batch holds at most {MAX_BATCH} events", field="events")
        await context.limit_tracker(events)
        outcomes = await tracking.track(context.platform, events, sent_at=sent_at,
                                        origin=context.origin)
    except Exception as error:  # answered as graphql-core answers any resolver error
        return {"data": None, "errors": [_error(plan, error, ["track"])]}
    nodes: list[dict[str, Any] | None] = []
    errors = []
    for index, outcome in enumerate(outcomes):
        if outcome.error is not None:
            nodes.append(None)
            errors.append(_error(plan, outcome.error, ["track", index]))
        else:
            assert outcome.result is not None
            nodes.append(_node(plan, outcome.result))
    answer: dict[str, Any] = {"data": {"track": nodes}}
    if errors:
        answer["errors"] = errors
    return answer
