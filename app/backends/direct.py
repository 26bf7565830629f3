"""The embedded store's direct paths: what mongomock interprets generically for every
document, decided or done here directly, with mongomock's answers.

Pure functions on stored documents (dicts), installed by embedded.py:
- `applies`: a filter of plain top-level equalities, `$in` and `$exists` decided on a
  document whose such fields hold plain values, and a fold's guard (`{"applied.b":
  {"$ne": batch}}`) on a list of marks; anything else is UNDECIDED and left to
  mongomock's `filter_applies`;
- `copied` / `returned`: a stored value copied for an update's snapshot (types kept) or
  for a read (every mapping a plain dict, as mongomock's `_copy_field`);
- `count_into`: a fold's guarded bucket update (`$inc`, `$max`, `$push` with `$each` and
  `$slice`, `$setOnInsert`) applied to an existing document, or None (untouched) for
  any shape mongomock alone knows; `counted_new`: the document such an upsert inserts
  when none matched.
tests/backends/test_embedded.py checks each against mongomock's own, value by value.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from datetime import datetime
from decimal import Decimal
from typing import Any

from bson import Decimal128, Int64, ObjectId

UNDECIDED = object()


def applies(filter: Any, document: dict[str, Any]) -> bool:
    """mongomock's `filter_applies`, decided first by `_simple` where it can be."""
    decided = _simple(filter, document)
    if decided is UNDECIDED:
        from mongomock.filtering import filter_applies

        return bool(filter_applies(filter, document))
    return bool(decided)


_LAST_SET: list[Any] = [None, 0, (False, frozenset())]  # the list, its length, its answer


def _set_of(values: list[Any]) -> tuple[bool, frozenset[Any]]:
    """Of a `$in` list: whether its values are all plain, and their set; worked out once
    while the same list is asked about (a filter is tested against many documents)."""
    if _LAST_SET[0] is not values or _LAST_SET[1] != len(values):
        plain = all(scalar(v) for v in values)
        _LAST_SET[:] = [values, len(values), (plain, frozenset(values) if plain else frozenset())]
    return _LAST_SET[2]


def _same(wanted: Any, value: Any) -> Any:
    """Whether a stored plain value equals a filter's plain value (strings, numbers of any
    type by value, booleans by value), or undecided (mongomock decides)."""
    if type(value) in (list, tuple, dict):
        return UNDECIDED
    if type(wanted) is bool or type(value) is bool:  # mongomock's say on False and 0
        return wanted == value if type(wanted) is type(value) else UNDECIDED
    if isinstance(wanted, str):
        return isinstance(value, str) and wanted == value
    if isinstance(value, int | float) and isinstance(wanted, int | float):
        return wanted == value
    return UNDECIDED


def _simple(filter: Any, document: dict[str, Any]) -> Any:
    """A filter of top-level fields, each equal to a plain value, `$in` plain values or
    `$exists`, decided on a document whose such fields hold plain values (or are
    missing), and of a fold's guard (`_marked`); anything else is undecided (mongomock
    decides)."""
    if type(filter) is not dict:
        return UNDECIDED
    for name, wanted in filter.items():
        if name[:1] == "$":
            return UNDECIDED
        if "." in name:
            decided = _marked(name, wanted, document)
            if decided is not True:
                return decided
            continue
        present = name in document
        value = document.get(name)
        if type(wanted) is dict:
            if list(wanted) == ["$exists"] and type(wanted["$exists"]) is bool:
                if present != wanted["$exists"]:
                    return False
                continue
            if list(wanted) != ["$in"] or type(wanted["$in"]) is not list:
                return UNDECIDED
            plain, listed = _set_of(wanted["$in"])
            if not plain:
                return UNDECIDED
            if value is None:
                return UNDECIDED if present else False
            if type(value) is str:  # a string equals only an equal string
                if value not in listed:
                    return False
                continue
            found = [_same(v, value) for v in wanted["$in"]]
            if UNDECIDED in found:
                return UNDECIDED
            if not any(found):
                return False
            continue
        if not scalar(wanted):
            return UNDECIDED
        if value is None:
            if present:
                return UNDECIDED
            return False
        same = _same(wanted, value)
        if same is not True:
            return same
    return True


def _marked(name: str, wanted: Any, document: dict[str, Any]) -> Any:
    """`{"a.b": {"$ne": "x"}}` (a fold's guard: no mark of this batch), decided where `a`
    is missing, a dict or a list of dicts whose `b`, where present, is a string: true if
    none is "x"; anything else is undecided (`b` a number names a list position too)."""
    outer, _, inner = name.partition(".")
    if type(wanted) is not dict or list(wanted) != ["$ne"] or type(wanted["$ne"]) is not str \
            or not outer or not inner or "." in inner or outer[:1] == "$" or inner[:1] == "$" \
            or inner.isdigit():
        return UNDECIDED
    held = document.get(outer)
    if outer not in document:
        return True
    marks = [held] if type(held) is dict else held if type(held) is list else None
    if marks is None or any(type(m) is not dict for m in marks):
        return UNDECIDED
    values = [m[inner] for m in marks if inner in m]
    if any(type(v) is not str for v in values):
        return UNDECIDED
    return wanted["$ne"] not in values


def plain(value: Any) -> bool:
    """A string or a number (not a bool, not NaN): equal in Python as in MongoDB."""
    return isinstance(value, str | int | float) and not isinstance(value, bool) \
        and value == value


def scalar(value: Any) -> bool:
    """A plain value or a boolean: Python's `==` on them is looser than MongoDB's (True
    == 1 here, not there), so "not equal here" is "not equal there"."""
    return type(value) is bool or plain(value)


IMMUTABLE = {str, int, float, bool, type(None), bytes, datetime, ObjectId, Decimal128, Int64,
              Decimal}
COUNTERS = ("$inc", "$max", "$push", "$setOnInsert")


def _path(document: dict[str, Any], name: Any) -> tuple[dict[str, Any], str] | None:
    """The dict holding a field of one or two names (`n.views`), created if missing, or
    None for anything else (deeper, `$`, array positions, a parent not a dict)."""
    if not isinstance(name, str) or name[:1] == "$" or not name:
        return None
    parts = name.split(".")
    if len(parts) > 2 or any(not p or p[:1] == "$" or p.isdigit() for p in parts):
        return None
    if len(parts) == 1:
        return document, name
    parent = document.get(parts[0])
    if parent is None and parts[0] not in document:
        return {}, parts[1]  # created on write (below)
    return (parent, parts[1]) if type(parent) is dict else None


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def count_into(existing: dict[str, Any], document: dict[str, Any]) -> bool | None:
    """`$inc`, `$max` and `$push` (a value, or `$each` with `$slice`) on fields of one or
    two names of an existing document, as mongomock applies them (`$setOnInsert` does
    nothing to it); whether it changed. None, the document untouched, for any other
    shape: the caller gives it to mongomock."""
    names: list[str] = []
    plan: list[tuple[str, str, Any]] = []
    for operator in COUNTERS:
        for name, value in (document.get(operator) or {}).items():
            if operator == "$setOnInsert":
                continue
            names.append(name)
            plan.append((operator, name, value))
    heads = [n.split(".")[0] for n in names]
    if len(set(names)) != len(names) or any(h in names and h != n for h, n in zip(
            heads, names, strict=True)) or "_id" in heads:
        return None  # one field twice, or a field and its parent: mongomock's answer
    steps = []
    for operator, name, value in plan:
        found = _path(existing, name)
        if found is None:
            return None
        holder, key = found
        current = holder.get(key)
        if operator in ("$inc", "$max"):
            if not _number(value) or (key in holder and not _number(current)):
                return None
        else:
            if key in holder and type(current) is not list:
                return None
            if type(value) is dict and "$each" in value and (
                    set(value) - {"$each", "$slice"} or type(value["$each"]) is not list
                    or type(value.get("$slice", 0)) is not int):
                return None
        steps.append((operator, name, value))
    changed = False
    for operator, name, value in steps:
        head, _, tail = name.partition(".")
        holder = existing.setdefault(head, {}) if tail else existing
        key = tail or head
        before = holder.get(key, _MISSING_FIELD)
        if operator == "$inc":
            holder[key] = holder.get(key, 0) + value
        elif operator == "$max":
            holder[key] = max(holder.get(key, value), value)
        elif type(value) is dict and "$each" in value:
            pushed = holder.get(key, []) + copied(value["$each"])
            limit = value.get("$slice")
            if limit is not None:
                pushed = pushed[limit:] if limit < 0 else pushed[:limit]
            holder[key] = pushed
        else:
            holder[key] = [*holder.get(key, []), copied(value)]
        changed = changed or before is _MISSING_FIELD or before != holder[key]
    return changed


_MISSING_FIELD = object()


def counted_new(spec: dict[str, Any], document: dict[str, Any]) -> dict[str, Any] | None:
    """The document an upsert of counters inserts when nothing matched, as mongomock makes
    it: the filter's plain top-level equalities (a `$ne` condition, the fold's guard, adds
    nothing), the counters applied to them (`count_into`), then `$setOnInsert`'s plain
    top-level fields; None, for any other shape (the caller gives it to mongomock)."""
    new: dict[str, Any] = {}
    for name, wanted in spec.items():
        if not isinstance(name, str) or name[:1] == "$" or not name:
            return None
        if type(wanted) is dict:
            if list(wanted) != ["$ne"] or not scalar(wanted["$ne"]):
                return None
            continue
        if "." in name or not scalar(wanted):
            return None
        new[name] = wanted
    inserted = document.get("$setOnInsert") or {}
    if "_id" not in new or type(inserted) is not dict or any(
            not isinstance(k, str) or k[:1] == "$" or "." in k or k == "_id"
            or (k in spec and spec[k] != v) for k, v in inserted.items()):
        return None
    if count_into(new, document) is None or any(
            k in new and k not in spec for k in inserted):
        return None  # a counter and an inserted field on one path: mongomock's answer
    new.update({k: copied(v) for k, v in inserted.items()})
    return new


def copied(value: Any) -> Any:
    """A stored value copied: dicts and lists walked, immutable values shared (strings,
    numbers, dates, ids), anything else given to `copy.deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {k: copied(v) for k, v in value.items()}
    if kind is list:
        return [copied(v) for v in value]
    if kind in IMMUTABLE:
        return value
    if kind is OrderedDict:
        return OrderedDict((k, copied(v)) for k, v in value.items())
    return copy.deepcopy(value)


def returned(value: Any) -> Any:
    """A stored value as a read returns it: as mongomock's `_copy_field` into `dict`, every
    mapping a plain dict and every list a new list, other values copied or shared."""
    kind = type(value)
    if kind is dict or isinstance(value, dict):
        return {k: returned(v) for k, v in value.items()}
    if kind is list or isinstance(value, list):
        return [returned(v) for v in value]
    return value if kind in IMMUTABLE else copy.copy(value)
