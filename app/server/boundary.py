"""The boundary: the one place where what a client sends is read, and where anything that
cannot be read becomes BAD_INPUT instead of a 500, an INTERNAL error or a traceback.

- `loads` decodes every JSON text a client sends: a POST body (JSON or text/plain),
  GET's `variables`, the fast path's body and every WebSocket frame. It refuses,
  as `Undecodable` (a `JSONDecodeError`, so each transport answers it as bad JSON:
  400 over HTTP, close code 4400 over a WebSocket): bytes that are not UTF-8,
  nesting too deep for the parser, `NaN`, `Infinity` and numbers that overflow a
  float (they are not JSON), and integers of more than MAX_DIGITS digits (Python
  refuses to convert those at all; a GraphQL Int literal gets the same check in
  `LongNumbers`).
- `frame_problem` says what is wrong with a WebSocket message before a protocol
  handler reads it (not an object, no type, a `subscribe`/`start` without a text
  id or an object payload with a text query, ...): the connection is then closed
  with 4400 and the reason, and nothing is logged but one short line.
- Text holding a lone surrogate (`"\\ud800"`) is valid JSON but has no UTF-8 form,
  so it can never be stored. It is not refused here: a tracker batch refuses it at
  the item's index and applies the rest (`app/core/events.py`), and anywhere else it
  reaches storage or a hash, `code_error` (`app/server/errors.py`) answers it as
  BAD_INPUT.

Invariants: nothing here logs a traceback; every refusal names what was wrong, never
echoes the input back.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from typing import Any

from graphql import BREAK, FloatValueNode, GraphQLError, IntValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from app.core import BadInput

log = logging.getLogger("tracker.server")

MAX_DIGITS = 1000  # of an integer: a 32-bit Int has 10, an event id 20; JSON needs no more
LONG_RUN = re.compile(r"\d{" + str(MAX_DIGITS + 1) + "}")


class Undecodable(json.JSONDecodeError):
    """A body or frame that cannot be read; `reason` says why, without the input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _int(text: str) -> int:
    if len(text) > MAX_DIGITS + 1:  # + a sign
        raise Undecodable(f"a number has more than {MAX_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Undecodable("a number is too large for a float")
    return value


def _constant(name: str) -> None:
    raise Undecodable(f"{name} is not a JSON number")


def loads(data: str | bytes) -> Any:
    """The JSON value of `data`, or Undecodable saying why there is none."""
    try:
        return json.loads(data, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except Undecodable:
        raise
    except UnicodeDecodeError:
        raise Undecodable("the body is not UTF-8") from None
    except RecursionError:
        raise Undecodable("the JSON is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise Undecodable(f"not JSON: {error.msg} at position {error.pos}") from None
    except ValueError:  # whatever else the decoder refuses to turn into a value
        raise Undecodable("a value cannot be read") from None


# -- WebSocket frames ----------------------------------------------------------------------

OPERATION_TYPES = {"subscribe", "start"}  # graphql-transport-ws, graphql-ws
ID_TYPES = {"subscribe", "start", "complete", "stop"}
PAYLOAD_FIELDS = (("query", str, True), ("variables", dict, False),
                  ("operationName", str, False), ("extensions", dict, False))


def frame_problem(message: Any) -> str | None:
    """What makes a WebSocket message unusable for either protocol; None if nothing."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a type"
    payload = message.get("payload")
    if kind in ID_TYPES and not isinstance(message.get("id"), str):
        return f"a {kind} message needs an id"
    if kind == "connection_init" and payload is not None and not isinstance(payload, dict):
        return "the connection_init payload must be an object"
    if kind in OPERATION_TYPES:
        if not isinstance(payload, dict):
            return f"a {kind} message needs a payload object"
        for name, kind_of, required in PAYLOAD_FIELDS:
            value = payload.get(name)
            if (value is None and required) or (value is not None
                                                and not isinstance(value, kind_of)):
                return f"the payload's {name} must be {'text' if kind_of is str else 'an object'}"
    return None


def refused_frame(protocol: str, reason: str) -> None:
    log.warning("%s message refused: %s", protocol, reason)


# -- documents -----------------------------------------------------------------------

class LongNumbers(SchemaExtension):
    """Refuses a document with an Int or Float literal of more than MAX_DIGITS characters
    as a validation error (BAD_INPUT), on every transport: graphql-core's own validation
    cannot convert such an Int and reports a ValueError, which would be INTERNAL.

    Listed after ValidationCache, so that its errors replace the cache's; without the
    cache, errors set here make Strawberry skip its own validation."""

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        # Only a document with a long run of digits can hold such a literal: most need no walk.
        if ec.graphql_document is not None and LONG_RUN.search(ec.query or ""):
            check = _LiteralCheck()
            visit(ec.graphql_document, check)
            if check.found is not None:
                refusal = BadInput(f"a number has more than {MAX_DIGITS} digits")
                ec.pre_execution_errors = [GraphQLError(
                    refusal.message, nodes=[check.found], original_error=refusal)]
        yield


class _LiteralCheck(Visitor):
    found: IntValueNode | FloatValueNode | None = None

    def enter_int_value(self, node: IntValueNode, *_: Any) -> Any:
        return self._check(node)

    def enter_float_value(self, node: FloatValueNode, *_: Any) -> Any:
        return self._check(node)

    def _check(self, node: IntValueNode | FloatValueNode) -> Any:
        if len(node.value) > MAX_DIGITS + 1:
            self.found = node
            return BREAK
        return None
