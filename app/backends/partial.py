"""Partial indexes for the embedded store: pending documents found as MongoDB finds them.

A partial index (app/indexes.py) holds only the documents its filter selects: the
folds' pending facts (`{rolled: false}`), the batch claiming them (`{foldBatch:
{$type: "string"}}`), the product views due for co-occurrence (`{coAt: {$type:
"date"}}`). MongoDB answers `{shopId, rolled: false}` from such an index, reading
only what is pending; mongomock scanned the whole collection, so that a report's
search for pending events cost as much as the events stored.

Here each collection keeps, per partial index on one field (a value, or a `$type` of
"string" or "date"), the ids of the documents its filter may select, in the order
they joined. Invariant: every stored document the index's filter selects is in the
set (a superset: a deleted document's id lingers until a lookup passes it). It holds
because every write that can make a document selected passes here: an insert (and an
upsert, and a rollback's restore) stores through the collection store's `__setitem__`
or the embedded store's own `insert_many` (embedded.py), and an update changes, in
place, only documents that the collection's `_iter_documents` handed it; after each
update those documents are tested against the filter anew. A drop replaces the store's
dict of documents, and a new or dropped index changes its names: either rebuilds the
sets with one scan.

A filter uses an index when its condition on the index's field can only select
documents the index holds (the same value, of the same type; a value, or `$eq` /
`$in` / comparisons with values, of the index's type; or the index's own `$type`).
The candidates are then tested against the whole filter, as a scan would test them, in
the collection's order
(equality.py keeps each document's place): answers are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.backends import equality

TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "date": datetime}
RANGE = {"$eq", "$in", "$gt", "$gte", "$lt", "$lte"}
_MISSING = object()


@dataclass
class Partial:
    """One partial index on one field: its filter, and the ids it may select."""

    field: str
    expression: dict[str, Any]
    ids: dict[Any, None] = field(default_factory=dict)

    def selects(self, document: dict[str, Any]) -> bool:
        """Whether the filter may select the document: a plain value is tested here (a
        looser `==` only adds candidates), an array as mongomock tests it."""
        value = document.get(self.field, _MISSING)
        if value is _MISSING:
            return False
        if isinstance(value, list | tuple):
            from mongomock.filtering import filter_applies

            return bool(filter_applies(self.expression, document))
        wanted = self.expression[self.field]
        if isinstance(wanted, dict):
            return isinstance(value, TYPES[wanted["$type"]])
        return bool(value == wanted)

    def serves(self, condition: Any) -> bool:
        """Whether every document `condition` (on the field) selects is one this holds."""
        wanted = self.expression[self.field]
        if not isinstance(wanted, dict):  # a value: the query asks for that very value
            return type(condition) is type(wanted) and condition == wanted
        kind = TYPES[wanted["$type"]]
        if isinstance(condition, kind) or condition == wanted:  # or the filter's own $type
            return True
        if not isinstance(condition, dict) or not condition or set(condition) - RANGE:
            return False
        values = [v for op, arg in condition.items()
                  for v in (arg if op == "$in" and isinstance(arg, list) else [arg])]
        return bool(values) and all(isinstance(v, kind) for v in values)


@dataclass
class Partials:
    """A collection's partial indexes, as of its documents' dict and index names."""

    documents: Any
    names: tuple[str, ...]
    indexes: list[Partial]


def _usable(expression: Any) -> str | None:
    """The field of a one-field partial filter this module keeps, else None."""
    if not isinstance(expression, dict) or len(expression) != 1:
        return None
    (name, wanted), = expression.items()
    if name.startswith("$") or "." in name:
        return None
    if isinstance(wanted, dict):
        return name if list(wanted) == ["$type"] and wanted["$type"] in TYPES else None
    plain = isinstance(wanted, str | int | float | bool) and wanted == wanted
    return name if plain else None


def partials(store: Any) -> list[Partial]:
    """The collection store's partial indexes, rebuilt after a drop or an index change."""
    kept: Partials | None = getattr(store, "_tracker_partials", None)
    names = tuple(store.indexes)
    if kept is not None and kept.documents is store._documents and kept.names == names:
        return kept.indexes
    indexes = []
    for spec in store.indexes.values():
        expression = spec.get("partialFilterExpression")
        name = _usable(expression)
        if name is not None:
            index = Partial(name, expression)
            index.ids = {k: None for k, d in store._documents.items() if index.selects(d)}
            indexes.append(index)
    store._tracker_partials = Partials(store._documents, names, indexes)
    return indexes


def note(store: Any, keys: list[Any]) -> None:
    """After a write: each of these documents joins or leaves each index, as it now is."""
    indexes = partials(store)
    if not indexes:
        return
    documents = store._documents
    for key in keys:
        document = documents.get(key)
        for index in indexes:
            if document is not None and index.selects(document):
                index.ids.setdefault(key, None)
            else:
                index.ids.pop(key, None)


def candidates(store: Any, filter: Any) -> Iterator[dict[str, Any]] | None:
    """The documents an index holds for `filter` (to be tested against all of it), or
    None when no partial index serves it."""
    if not isinstance(filter, dict):
        return None
    for index in partials(store):
        if index.field in filter and index.serves(filter[index.field]):
            return _held(store, index)
    return None


def _held(store: Any, index: Partial) -> Iterator[dict[str, Any]]:
    documents = store._documents
    held = list(index.ids)
    gone = [k for k in held if k not in documents]
    for key in gone:  # deleted since: they leave the index now
        index.ids.pop(key, None)
    order = equality.table(store).order  # the collection's order, as a scan's
    return (documents[k] for k in sorted((k for k in held if k in documents),
                                         key=order.__getitem__))
