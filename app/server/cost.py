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
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
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
        root, operation.selection_set, sized=False)


class _Coster:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 operation: OperationDefinitionNode, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.defaults = {d.variable.name.value: d.default_value
                         for d in operation.variable_definitions or ()}

    def selections(self, parent: Any, selection_set: SelectionSetNode, sized: bool) -> int:
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

    def field(self, parent: Any, node: FieldNode, sized: bool) -> int:
        fields = getattr(parent, "fields", None) or {}
        definition: GraphQLField | None = fields.get(node.name.value)
        if definition is None or node.selection_set is None:
            return 0  # a scalar, or introspection (__typename, __schema: the schema's size)
        asked = self.size(definition, node)
        if asked is not None:
            size = asked
        elif is_list_type(get_nullable_type(definition.type)) and not sized:
            size = UNSIZED_LIST
        else:
            size = 1
        inner = self.selections(get_named_type(definition.type), node.selection_set,
                                sized=asked is not None)
        return size * (1 + inner)

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
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            return self.value(self.defaults.get(name))
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
