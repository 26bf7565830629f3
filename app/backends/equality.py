"""Equality indexes for the embedded store: a visitor's or a customer's documents found as
MongoDB finds them, through an index, instead of a scan of the collection.

Every index app/indexes.py declares as `{shopId, F, ...}` (not partial) gives, here, an
equality index on F: per string value of F (or string element of an array in F), the
ids of the documents holding it. A login files the visitor's anonymous events
(`{shopId, visitorId, userId: null}`): mongomock scanned every event of every shop for
it, so that `track` on the embedded store grew slower with each event stored.

Invariant: for every stored document and every such field, the document's id is under
exactly the string values it holds there. It holds as for the partial indexes
(partial.py `note`, called after every insert, restore and update, and here also on
every delete, which passes through the collection store's `__delitem__`); a drop or an
index change rebuilds them with one scan.

A filter uses such an index when its condition on F is a string, or `$in` strings (a
string equals only a string, in MongoDB as in mongomock): the candidates are the
documents under those values, tested against the whole filter, in the collection's
order (`Keyed.order`, each document's place of insertion), so answers are unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Keyed:
    """One field's equality index: value -> ids, and id -> the values it is under."""

    name: str
    ids: dict[str, dict[Any, None]] = field(default_factory=dict)
    values: dict[Any, tuple[str, ...]] = field(default_factory=dict)

    def place(self, key: Any, document: dict[str, Any] | None) -> None:
        now = () if document is None else _strings(document.get(self.name))
        before = self.values.get(key, ())
        if now == before:
            return
        for value in before:
            under = self.ids.get(value)
            if under is not None:
                under.pop(key, None)
                if not under:
                    del self.ids[value]
        for value in now:
            self.ids.setdefault(value, {})[key] = None
        if now:
            self.values[key] = now
        else:
            self.values.pop(key, None)


@dataclass
class Table:
    """A collection's equality indexes and its documents' places, as of its documents'
    dict and index names."""

    documents: Any
    names: tuple[str, ...]
    indexes: list[Keyed]
    order: dict[Any, int]
    counter: Iterator[int]


def _strings(value: Any) -> tuple[str, ...]:
    if type(value) is str:
        return (value,)
    if type(value) is list:
        return tuple(dict.fromkeys(v for v in value if type(v) is str))
    return ()


def _fields(store: Any) -> list[str]:
    out: list[str] = []
    for spec in store.indexes.values():
        keys = [k for k, _ in spec.get("key", ())]
        if spec.get("partialFilterExpression") or spec.get("sparse") or len(keys) < 2 \
                or keys[0] != "shopId":
            continue
        name = keys[1]
        if name not in out and name not in ("_id", "shopId") and "." not in name \
                and name[:1] != "$":
            out.append(name)
    return out


def table(store: Any) -> Table:
    """The collection store's equality indexes, rebuilt after a drop or an index change."""
    kept: Table | None = getattr(store, "_tracker_equality", None)
    names = tuple(store.indexes)
    if kept is not None and kept.documents is store._documents and kept.names == names:
        return kept
    counter = itertools.count()
    order = {key: next(counter) for key in store._documents}
    indexes = [Keyed(name) for name in _fields(store)]
    for index in indexes:
        for key, document in store._documents.items():
            index.place(key, document)
    kept = Table(store._documents, names, indexes, order, counter)
    store._tracker_equality = kept
    return kept


def note(store: Any, keys: list[Any]) -> None:
    """After a write (or a delete): each document's place and values, as it now is."""
    kept = table(store)
    documents = store._documents
    for key in keys:
        document = documents.get(key)
        if document is None:
            kept.order.pop(key, None)
        elif key not in kept.order:
            kept.order[key] = next(kept.counter)
        for index in kept.indexes:
            index.place(key, document)


def candidates(store: Any, filter: Any) -> list[dict[str, Any]] | None:
    """The documents an equality index holds for `filter`, in the collection's order (to be
    tested against all of it), or None when none serves it."""
    if not isinstance(filter, dict) or not store.indexes:
        return None
    kept = table(store)
    best: set[Any] | None = None
    for index in kept.indexes:
        wanted = _wanted(filter.get(index.name)) if index.name in filter else None
        if wanted is None:
            continue
        held = {k for value in wanted for k in index.ids.get(value, ())}
        if best is None or len(held) < len(best):
            best = held
    if best is None:
        return None
    documents = store._documents
    return [documents[k] for k in sorted(best, key=kept.order.__getitem__) if k in documents]


def _wanted(condition: Any) -> tuple[str, ...] | None:
    if type(condition) is str:
        return (condition,)
    if type(condition) is dict and list(condition) == ["$in"] and type(
            condition["$in"]) is list and all(type(v) is str for v in condition["$in"]):
        return tuple(condition["$in"])
    return None
