"""What a query costs, computed before it runs, so that one request cannot ask for
millions of objects (list sizes multiply: 30 aliases x 500 customers x their orders).

The cost counts the objects a query may return. A field returning objects costs
1 per object plus what is selected inside it, times how many there can be:

- the field's `first` or `limit` argument (literal, variable or default), which
  also sizes the lists directly inside it (a connection's `nodes`, an interest
  map's `products`);
- otherwise, for a list, UNSIZED_LIST (orders, cart items, ...);
- otherwise 1.

Scalars cost nothing: they come with their object.

A field over a range of time (`from`/`to`: the analytics) also costs the reading it
makes: RANGE_DAY_COST per day of its range (a year of `stats` costs 18,300 of it),
and the lists right inside it are sized by their buckets (`interval` HOUR or DAY).
So every alias of a year-wide `stats` counts, not 1 each: the dashboard's overview
of a year (four fields) costs about 74,000, 30 aliases about 560,000.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import (
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from app.core import BadInput

SIZE_ARGUMENTS = ("first", "limit")
UNSIZED_LIST = 10  # the objects a list without a size argument is counted as
MAX_SIZE = 2**31  # sizes are Int (32 bits): a bigger number is refused later anyway
RANGE_DAY_COST = 50  # what a day of a `from`/`to` range costs to read, in objects
MAX_RANGE_DAYS = 366  # wider ranges are refused by the field itself
BUCKET_HOURS = {"HOUR": 1, "DAY": 24}  # `interval`: the buckets a range is cut into


class QueryCost(SchemaExtension):
    """Refuses, before execution, an operation that costs more than `max_cost` (BAD_INPUT)."""

    def __init__(self, *, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is not None:
            schema = ec.schema._schema  # graphql-core's schema, which the document is about
            cost = query_cost(schema, ec.graphql_document, ec.variables, ec.operation_name)
            if cost > self.max_cost:
                raise BadInput(
                    f"the query costs {cost}, more than the limit of {self.max_cost}: ask for "
                    "fewer items (first, limit), fewer aliases or fewer nested lists",
                    cost=cost, maxCost=self.max_cost)
        yield


def query_cost(schema: GraphQLSchema, document: DocumentNode,
               variables: dict[str, Any] | None, operation_name: str | None) -> int:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0  # graphql-core refuses it with a proper message
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    return _Coster(schema, document, operation, variables or {}).selections(
        root, operation.selection_set, sized=None)


class _Coster:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 operation: OperationDefinitionNode, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.defaults = {d.variable.name.value: d.default_value
                         for d in operation.variable_definitions or ()}

    def selections(self, parent: Any, selection_set: SelectionSetNode,
                   sized: int | None) -> int:
        """The cost of a selection; `sized` is the size of the lists right inside it
        (None: unknown, UNSIZED_LIST each)."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection, sized)
            elif isinstance(selection, InlineFragmentNode):
                on = selection.type_condition
                inner = self.schema.get_type(on.name.value) if on else parent
                total += self.selections(inner or parent, selection.selection_set, sized)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    inner = self.schema.get_type(fragment.type_condition.name.value)
                    total += self.selections(inner or parent, fragment.selection_set, sized)
        return total

    def field(self, parent: Any, node: FieldNode, sized: int | None) -> int:
        fields = getattr(parent, "fields", None) or {}
        definition: GraphQLField | None = fields.get(node.name.value)
        if definition is None or node.selection_set is None:
            return 0  # a scalar, or introspection (__typename, __schema: the schema's size)
        asked = self.size(definition, node)
        if asked is not None:
            size = asked
        elif is_list_type(get_nullable_type(definition.type)):
            size = UNSIZED_LIST if sized is None else sized
        else:
            size = 1
        hours = self.range_hours(definition, node)
        inner_size = 1 if asked is not None else None
        reading = 0
        if hours is not None:
            reading = RANGE_DAY_COST * max(1, math.ceil(hours / 24))
            step = BUCKET_HOURS.get(str(self.value(self.argument(node, "interval"))
                                        or _default(definition, "interval") or "DAY"), 24)
            inner_size = max(1, math.ceil(hours / step)) if "interval" in definition.args \
                else inner_size
        inner = self.selections(get_named_type(definition.type), node.selection_set,
                                sized=inner_size)
        return reading + size * (1 + inner)

    def range_hours(self, definition: GraphQLField, node: FieldNode) -> float | None:
        """The hours of a `from`/`to` range (at most MAX_RANGE_DAYS; at least 1 when it
        cannot be read: the field refuses it); None for a field without one."""
        if "from" not in definition.args or "to" not in definition.args:
            return None
        start = _datetime(self.value(self.argument(node, "from")))
        end = _datetime(self.value(self.argument(node, "to")))
        if start is None or end is None or end <= start:
            return 1.0
        return min((end - start).total_seconds() / 3600, MAX_RANGE_DAYS * 24.0)

    @staticmethod
    def argument(node: FieldNode, name: str) -> Any:
        return next((a.value for a in node.arguments or () if a.name.value == name), None)

    def size(self, definition: GraphQLField, node: FieldNode) -> int | None:
        """The field's first/limit: as given, else its default; None if it has none."""
        for name in SIZE_ARGUMENTS:
            argument = definition.args.get(name)
            if argument is None:
                continue
            given = next((a.value for a in node.arguments or () if a.name.value == name), None)
            value = self.value(given)
            if value is None:
                value = argument.default_value
            return min(max(value, 1), MAX_SIZE) if _is_int(value) else 1
        return None

    def value(self, node: Any) -> Any:
        if isinstance(node, IntValueNode):
            # Validation has refused literals outside 32 bits; never parse thousands of digits.
            return int(node.value) if len(node.value) <= 12 else MAX_SIZE
        if isinstance(node, StringValueNode | EnumValueNode):
            return node.value
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            return self.value(self.defaults.get(name))
        return None


def _default(definition: GraphQLField, name: str) -> Any:
    argument = definition.args.get(name)
    return None if argument is None else argument.default_value


def _datetime(value: Any) -> datetime | None:
    """A DateTime argument as given (ISO 8601 text), or None if it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
