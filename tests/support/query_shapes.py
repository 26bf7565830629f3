"""The queries the product sends, recorded, and what serves each (issue 11, points 4-5).

`Recorder` wraps every collection of a storage and records each round trip: the
method, its filter, its sort, and for `bulk_write` each operation. A *shape* is a
query with its values left out (`events.find(shopId=, userId=) sort occurredAt-,_id-`).
`served_by` says which index MongoDB's planner can answer a shape with, without a
collection scan and without sorting in memory (equality fields first, then the sort,
then a range: the ESR rule), and `plan_problems` reads a real `explain()` for the
same: a COLLSCAN or a blocking SORT stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

from app.backends.storage import COUNTED_METHODS, Storage

SINGLE = {"find_one", "find_one_and_update", "find_one_and_delete", "update_one",
          "replace_one", "delete_one"}  # methods that address one document
MULTI = {"find", "aggregate", "update_many", "delete_many", "count_documents", "distinct"}
BULK = {UpdateOne: "update_one", ReplaceOne: "replace_one", DeleteOne: "delete_one",
        UpdateMany: "update_many", DeleteMany: "delete_many", InsertOne: "insert_one"}


@dataclass
class Call:
    collection: str
    method: str
    filter: dict[str, Any] = field(default_factory=dict)
    sort: list[tuple[str, int]] = field(default_factory=list)
    limit: int = 0

    @property
    def shape(self) -> str:
        text = f"{self.collection}.{self.method}({_shape(self.filter)})"
        if self.sort:
            text += " sort " + ",".join(f"{f}{'+' if d > 0 else '-'}" for f, d in self.sort)
        return text


def _kind(value: Any) -> str:
    """How a filter names a field: `=` equality, `in`, `~` a range, `!` a negation."""
    if isinstance(value, dict) and value and all(k.startswith("$") for k in value):
        ops = set(value)
        if ops <= {"$eq"}:
            return "="
        if ops <= {"$in"}:
            return " in"
        # A $type beside a range (as a partial index's filter names it) keeps it a range.
        if ops - {"$type"} and ops - {"$type"} <= {"$lt", "$lte", "$gt", "$gte"}:
            return "~"
        return "!"
    return "="


def _shape(query: dict[str, Any]) -> str:
    parts = []
    for key in sorted(query):
        if key == "$or":
            parts.append("$or[" + "; ".join(sorted({_shape(q) for q in query[key]})) + "]")
        else:
            parts.append(f"{key}{_kind(query[key])}")
    return ", ".join(parts)


class _RecordedCursor:
    def __init__(self, cursor: Any, call: Call, calls: list[Call]) -> None:
        self._cursor, self._call, self._calls = cursor, call, calls

    def sort(self, key: Any, direction: int | None = None) -> _RecordedCursor:
        self._call.sort = [(key, direction or 1)] if isinstance(key, str) else list(key)
        self._cursor = self._cursor.sort(key, direction) if direction else self._cursor.sort(key)
        return self

    def limit(self, n: int) -> _RecordedCursor:
        self._call.limit = n
        self._cursor = self._cursor.limit(n)
        return self

    def off_loop(self) -> _RecordedCursor:
        self._cursor = self._cursor.off_loop()
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        self._calls.append(self._call)
        return await self._cursor.to_list(length)

    async def close(self) -> None:
        await self._cursor.close()


class _RecordedCollection:
    def __init__(self, inner: Any, calls: list[Call]) -> None:
        self._inner, self._calls = inner, calls

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._inner, attr)
        if attr not in COUNTED_METHODS:
            return target

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            self._record(attr, args, kwargs)
            return await target(*args, **kwargs)

        return recorded

    def _record(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        name = self._inner.name
        if method == "bulk_write":
            for op in args[0]:
                self._calls.append(Call(name, BULK[type(op)], getattr(op, "_filter", {})))
        elif method == "distinct":
            self._calls.append(Call(name, method, args[1] if len(args) > 1 else {}))
        elif method.startswith("insert"):
            self._calls.append(Call(name, method))
        else:
            self._calls.append(Call(name, method, args[0] if args else kwargs.get("filter", {})))

    def find(self, *args: Any, **kwargs: Any) -> _RecordedCursor:
        call = Call(self._inner.name, "find", args[0] if args else {})
        return _RecordedCursor(self._inner.find(*args, **kwargs), call, self._calls)

    def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> _RecordedCursor:
        """An aggregation is planned by its leading `$match` (and `$sort`)."""
        head = pipeline[0].get("$match", {}) if pipeline else {}
        call = Call(self._inner.name, "aggregate", head)
        if len(pipeline) > 1 and "$sort" in pipeline[1]:
            call.sort = list(pipeline[1]["$sort"].items())
        return _RecordedCursor(self._inner.aggregate(pipeline, **kwargs), call, self._calls)


def record(storage: Storage) -> list[Call]:
    """Record every round trip made through `storage` from now on."""
    calls: list[Call] = []
    for name in storage.indexes:
        setattr(storage, name, _RecordedCollection(getattr(storage, name), calls))
    return calls


# -- which index serves a shape ----------------------------------------------------------

def _fields(query: dict[str, Any]) -> dict[str, str]:
    return {k: _kind(v).strip() for k, v in query.items() if not k.startswith("$")}


# Once the scan is down to one document, one visitor's or one customer's, the other
# equality fields may be checked on the documents found.
NARROW = {"_id", "visitorId", "userId"}


def _serves(keys: list[tuple[str, int]], kinds: dict[str, str],
            sort: list[tuple[str, int]]) -> int | None:
    """How many fields of the filter an index with these keys binds, if it answers the
    query without a collection scan or a sort in memory and scans no more than it must
    (every equality field bound, or the scan down to one visitor, customer or `_id`)."""
    bounded = {"=", "in"}
    i = 0
    while i < len(keys) and kinds.get(keys[i][0]) in bounded:
        i += 1
    bound = {f for f, _ in keys[:i]}
    unbound = {f for f, k in kinds.items() if k in bounded} - bound
    if unbound and not bound & NARROW:
        return None
    rest = [(f, d) for f, d in sort if kinds.get(f) not in bounded]
    if rest:
        segment = keys[i:i + len(rest)]
        if [f for f, _ in segment] != [f for f, _ in rest]:
            return None
        if len({a * b for (_, a), (_, b) in zip(segment, rest, strict=True)}) != 1:
            return None
        ranged = kinds.get(rest[0][0]) == "~"
        return i + ranged if (i or ranged or not kinds) else None
    ranged = i < len(keys) and kinds.get(keys[i][0]) == "~"
    return i + ranged if (i or ranged) else None


def served_by(call: Call, indexes: list[Any]) -> str | None:
    """The name of the index that serves the call's shape best, or None."""
    candidates = [("_id_", [("_id", 1)])] + [
        (m.document["name"], list(m.document["key"].items())) for m in indexes]
    top = _fields(call.filter)
    scored = [((keys == [("_id", 1)] and top.get("_id") == "=", score), name)
              for name, keys in candidates
              if (score := _serves(keys, top, call.sort)) is not None]
    if scored:  # the best: a lookup by `_id`, else the most fields bound
        return max(scored, key=lambda pair: pair[0])[1]
    branches = call.filter.get("$or")
    if branches and not call.sort:
        # Each branch of the $or with the fields around it is planned on its own.
        names = [served_by(Call(call.collection, call.method,
                                {**{k: v for k, v in call.filter.items() if k != "$or"},
                                 **branch}), indexes) for branch in branches]
        if all(names):
            return " + ".join(sorted(set(n for n in names if n)))
    return None


# -- what a real explain() says --------------------------------------------------------------

def stages(plan: Any) -> list[str]:
    """Every stage name in a plan tree (classic, slot-based `queryPlan`, or per shard)."""
    found: list[str] = []
    if isinstance(plan, dict):
        if isinstance(plan.get("stage"), str):
            found.append(plan["stage"])
        for key, value in plan.items():
            if key not in {"rejectedPlans", "slotBasedPlan"}:
                found += stages(value)
    elif isinstance(plan, list):
        for value in plan:
            found += stages(value)
    return found


def plan_problems(explained: dict[str, Any]) -> list[str]:
    """A collection scan, or a sort done in memory, in the winning plan."""
    winning = explained.get("queryPlanner", {}).get("winningPlan", explained)
    names = stages(winning)
    return [s for s in names if s in {"COLLSCAN", "SORT"}]


def explain_command(call: Call) -> dict[str, Any]:
    """The `find` that plans like the call: a write plans its filter as a find does."""
    command: dict[str, Any] = {"find": call.collection, "filter": call.filter}
    if call.sort:
        command["sort"] = dict(call.sort)
    if call.limit:
        command["limit"] = call.limit
    return command

