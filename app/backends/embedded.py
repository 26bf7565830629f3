"""The embedded store: mongomock, made fit for the demo and the tests.

mongomock answers like MongoDB but was built for correctness, not speed, and
predates the pymongo we use. Each fix below keeps its answers unchanged. Scans
and groups look at their deadline as they go (app/backends/reads.py `check`), so
that a read in a worker thread stops at the request's time budget. The indexes
MongoDB would use are kept here too (partial.py, equality.py), and what mongomock
interprets per document for the folds' reads and writes is done directly (direct.py).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from app.backends import direct, equality, partial
from app.backends.reads import check


def prepare_mongomock() -> None:
    """Apply the fixes once per process."""
    import mongomock.helpers

    if getattr(mongomock.helpers, "_prepared_by_tracker", False):
        return
    _teach_mongomock_sort()
    _give_mongomock_an_id_index()
    _speed_up_date_patching()
    _teach_mongomock_date_arithmetic()
    _match_before_copying()
    _iterate_cursors_without_slicing()
    _group_in_one_pass()
    _match_in_by_set()
    _read_cursors_in_batches()
    _insert_many_under_one_lock()
    _set_plain_fields_in_place()
    _keep_partial_indexes()
    _copy_documents_directly()
    _project_top_level_fields()
    _read_up_to_the_limit()
    mongomock.helpers._prepared_by_tracker = True  # type: ignore[attr-defined]


def _speed_up_date_patching() -> None:
    """Normalise datetimes in documents the way mongomock does, by exact type first.

    mongomock walks every document it stores or is asked about, testing each
    value against several types; that walk was the largest cost of a tracked
    event on the embedded store. Values of other types go to the original.
    """
    import mongomock.helpers

    original = mongomock.helpers.patch_datetime_awareness_in_document
    plain = (str, int, float, bool, type(None), bytes)

    def patch(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            return {k: patch(v) for k, v in value.items()}
        if kind in plain:
            return value
        if kind is list or kind is tuple:
            return [patch(v) for v in value]
        if kind is datetime:
            mongo_us = value.microsecond // 1000 * 1000
            if value.tzinfo:
                offset = value.utcoffset()
                assert offset is not None
                return (value - offset).replace(tzinfo=None, microsecond=mongo_us)
            return value.replace(microsecond=mongo_us)
        if kind is OrderedDict:
            return OrderedDict((k, patch(v)) for k, v in value.items())
        return original(value)

    patch.original = original  # type: ignore[attr-defined]
    mongomock.helpers.patch_datetime_awareness_in_document = patch


def _teach_mongomock_sort() -> None:
    """pymongo >= 4.11 passes `sort` (unused by us) to bulk updates; mongomock predates it."""
    from mongomock.collection import BulkOperationBuilder

    add_update, add_replace = BulkOperationBuilder.add_update, BulkOperationBuilder.add_replace

    def update(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
        return add_update(self, *args, **kwargs)

    def replace(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
        return add_replace(self, *args, **kwargs)

    BulkOperationBuilder.add_update = update  # type: ignore[method-assign]
    BulkOperationBuilder.add_replace = replace  # type: ignore[method-assign]


def _give_mongomock_an_id_index() -> None:
    """Let the embedded store find documents by `_id` the way MongoDB does, through its key.

    mongomock otherwise tests every document of the collection against the
    filter, even for `{"_id": …}`. Here the candidates of a filter on a plain
    `_id` (or `_id` `$in` a list) come from its primary-key dict, and the whole
    filter is still applied to them, so answers are unchanged.
    """
    from mongomock.collection import Collection as MockCollection
    from mongomock.filtering import filter_applies

    def scan(self: Any, filter: Any) -> Any:
        # mongomock's own scan, looking at the deadline as it goes, and passing over
        # the documents a plain field of the filter rules out before the full test.
        if self._store.is_empty:
            filter_applies(filter, {})  # validates the filter even with nothing to match
        documents = list(self._store.documents)
        plain = _plain_fields(filter)

        def matching() -> Any:
            for scanned, document in enumerate(documents):
                check(scanned)
                if not _ruled_out(plain, document) and direct.applies(filter, document):
                    yield document

        return matching()

    def by_key(self: Any, filter: Any) -> Any:
        wanted = filter.get("_id") if isinstance(filter, dict) else None
        if isinstance(wanted, dict) and set(wanted) == {"$in"} and isinstance(
                wanted["$in"], list | tuple):
            keys = list(wanted["$in"])
        elif isinstance(wanted, str | int) and not isinstance(wanted, bool):
            keys = [wanted]
        else:
            return _through_an_index(self, filter, scan)
        if not all(isinstance(k, str | int) and not isinstance(k, bool) for k in keys):
            return _touched(scan(self, filter))
        documents = self._store._documents
        candidates = [documents[k] for k in dict.fromkeys(keys) if k in documents]
        return _touched(d for d in candidates if direct.applies(filter, d))

    MockCollection._iter_documents = by_key  # type: ignore[method-assign]


def _through_an_index(collection: Any, filter: Any, scan: Any) -> Any:
    """The documents a partial index (app/backends/partial.py) or an equality index
    (equality.py) holds for `filter`, tested against the whole filter; else the scan."""
    store = collection._store
    held = partial.candidates(store, filter)
    if held is None:
        held = equality.candidates(store, filter)
    if held is None:
        return _touched(scan(collection, filter))
    if store._ttl_indexes:
        store._remove_expired_documents()  # as the scan's first step does
    return _touched(d for d in held if direct.applies(filter, d))


def _note(store: Any, keys: list[Any]) -> None:
    """After a write: the documents' places in the partial and equality indexes."""
    partial.note(store, keys)
    equality.note(store, keys)


_RECORDING = threading.local()  # the ids an update in this thread was handed


def _touched(documents: Any) -> Any:
    """Pass documents on, noting their ids while an update runs (`_keep_partial_indexes`)."""
    seen = getattr(_RECORDING, "ids", None)
    if seen is None:
        yield from documents
        return
    for document in documents:
        seen.append(document["_id"])
        yield document


def _keep_partial_indexes() -> None:
    """Keep the partial and equality indexes (app/backends/partial.py, equality.py)
    through every write.

    Inserts and restores go through the collection store's `__setitem__` (or
    `insert_many`, which notes what it stored), deletes through its `__delitem__`; an
    update changes in place the documents
    `_iter_documents` handed it, whose ids are recorded while it runs and tested anew
    after it, whether it ended well or not. `create_indexes` keeps an index model's
    partial filter (mongomock's own dropped it).
    """
    from mongomock.collection import Collection as MockCollection
    from mongomock.store import CollectionStore

    setitem, delitem = CollectionStore.__setitem__, CollectionStore.__delitem__
    update = MockCollection._update

    def store(self: Any, key: Any, value: Any) -> None:
        setitem(self, key, value)
        _note(self, [key])

    def updated(self: Any, *args: Any, **kwargs: Any) -> Any:
        outer = getattr(_RECORDING, "ids", None)
        _RECORDING.ids = []
        try:
            return update(self, *args, **kwargs)
        finally:
            ids, _RECORDING.ids = _RECORDING.ids, outer
            _note(self._store, ids)
            if outer is not None:
                outer.extend(ids)

    def create_indexes(self: Any, indexes: Any, session: Any = None) -> list[str]:
        # mongomock's own drops an IndexModel's partial filter; `create_index` keeps it.
        return [self.create_index(list(m.document["key"].items()), session=session,
                                  **{k: v for k, v in m.document.items() if k != "key"})
                for m in indexes]

    def delete(self: Any, key: Any) -> None:
        delitem(self, key)
        _note(self, [key])

    updated.inner = update  # type: ignore[attr-defined]
    CollectionStore.__setitem__ = store  # type: ignore[method-assign]
    CollectionStore.__delitem__ = delete  # type: ignore[method-assign]
    MockCollection._update = updated  # type: ignore[method-assign]
    MockCollection.create_indexes = create_indexes  # type: ignore[method-assign]


_ATOMS = (str, int, float, bool, type(None))


def _set_plain_fields_in_place() -> None:
    """An update that only sets top-level fields to plain values (or unsets or renames
    them, each field named once) is applied to each matched document directly; an upsert
    of `$setOnInsert` alone that matches a document changes nothing, and says so without
    copying it.

    mongomock snapshots every matched document whole (to roll back a broken unique
    index or `_id`), then interprets the update; the folds' claim and finish
    (app/backends/folds.py) set or unset one or two fields on each of thousands of
    events. Such an update touches neither `_id` nor a unique index (a collection with
    one goes to the original), so there is nothing to roll back; the answer (matched,
    modified) is the original's. Anything else (an upsert that inserts, other operators,
    dotted or `$` fields, other values) goes to the original.
    """
    import mongomock.helpers as helpers
    from mongomock.collection import Collection as MockCollection

    original = MockCollection._update

    def top(name: Any) -> bool:
        return isinstance(name, str) and name != "_id" and name[:1] != "$" and "." not in name

    def plain(document: Any) -> bool:
        if not isinstance(document, dict) or not document or set(document) - {
                "$set", "$unset", "$rename"}:
            return False
        named: list[Any] = []  # every field the update touches: each at most once
        for operator, fields in document.items():
            if not isinstance(fields, dict) or not fields:
                return False
            for name, value in fields.items():
                if not top(name) or (operator == "$rename" and not top(value)):
                    return False
                if operator == "$set" and type(value) not in _ATOMS:
                    return False
                named += [name, value] if operator == "$rename" else [name]
        return len(named) == len(set(named))

    def counters(document: Any) -> bool:
        return isinstance(document, dict) and not set(document) - set(direct.COUNTERS) and bool(
            set(document) & {"$inc", "$max", "$push"}) and all(
            isinstance(v, dict) and v for v in document.values())

    def update(self: Any, spec: Any, document: Any, upsert: bool = False,
               manipulate: bool = False, multi: bool = False, *args: Any, **kwargs: Any) -> Any:
        if args or any(kwargs.values()) or not isinstance(spec, dict) or any(
                i.get("unique") for i in self._store.indexes.values()):
            return original(self, spec, document, upsert, manipulate, multi, *args, **kwargs)
        if upsert and isinstance(document, dict) and list(document) == ["$setOnInsert"]:
            # "Insert if absent" (a session restored, app/tracking/session_docs.py): matched,
            # nothing is set; else, with plain fields only, the new document is the
            # filter's and these.
            for _ in self._iter_documents(helpers.patch_datetime_awareness_in_document(spec)):
                return {"connectionId": self.database.client._id, "err": None, "n": 1,
                        "nModified": 0, "ok": 1, "upserted": None, "updatedExisting": True}
            fields = document["$setOnInsert"]
            if isinstance(fields, dict) and fields and "_id" in spec and all(
                    isinstance(k, str) and k[:1] != "$" and "." not in k and direct.scalar(v)
                    for k, v in spec.items()) and all(
                    isinstance(k, str) and k[:1] != "$" and "." not in k
                    and (k not in spec or (spec[k] == v and type(spec[k]) is type(v)))
                    for k, v in fields.items()):
                patched = helpers.patch_datetime_awareness_in_document(fields)
                new = {**spec, **direct.copied(patched)}
                upserted = self._insert(new)
                return {"connectionId": self.database.client._id, "err": None, "n": 1,
                        "nModified": 0, "ok": 1, "upserted": upserted, "updatedExisting": False}
        if not multi and counters(document):  # a fold's guarded update of its buckets
            patched = helpers.patch_datetime_awareness_in_document(document)
            where = helpers.patch_datetime_awareness_in_document(spec)
            matched = False
            for existing in self._iter_documents(where):
                matched = True
                changed = direct.count_into(existing, patched)
                if changed is None:
                    break  # a shape only mongomock knows: the original, from the start
                return {"connectionId": self.database.client._id, "err": None, "n": 1,
                        "nModified": int(changed), "ok": 1, "upserted": None,
                        "updatedExisting": True}
            new = None if matched or not upsert else direct.counted_new(where, patched)
            if new is not None:  # a bucket's first batch
                return {"connectionId": self.database.client._id, "err": None, "n": 1,
                        "nModified": 0, "ok": 1, "upserted": self._insert(new),
                        "updatedExisting": False}
        if upsert or not plain(document):
            return original(self, spec, document, upsert, manipulate, multi, *args, **kwargs)
        sets, unsets = document.get("$set", {}), list(document.get("$unset", {}))
        renames = document.get("$rename", {})
        matched = modified = 0
        for existing in self._iter_documents(helpers.patch_datetime_awareness_in_document(spec)):
            matched += 1
            changed = False
            for name, value in sets.items():
                if name not in existing or existing[name] != value:
                    changed = True
                elif type(existing[name]) is type(value):
                    continue
                existing[name] = value  # 2.0 for 2: stored, not "modified" (as mongomock)
            for name in unsets:
                if name in existing:
                    del existing[name]
                    changed = True
            for name, target in renames.items():  # a missing field: nothing (MongoDB's rule)
                if name in existing:
                    existing[target] = existing.pop(name)
                    changed = True
            modified += changed
            if not multi:
                break
        return {"connectionId": self.database.client._id, "err": None, "n": matched,
                "nModified": modified, "ok": 1, "upserted": None, "updatedExisting": matched > 0}

    update.original = original  # type: ignore[attr-defined]
    MockCollection._update = update  # type: ignore[method-assign]


def _copy_documents_directly() -> None:
    """Copy stored documents by walking their dicts and lists, not with `copy.deepcopy`.

    mongomock deep-copies every document an update touches (its snapshot, to roll
    back) and the values it stores and returns; `copy.deepcopy`'s memo and dispatch
    per value made that the largest cost of an update on the embedded store. Documents
    are trees of dicts, lists and immutable values, copied the same way by `direct.copied`.
    """
    import types

    import mongomock.collection as mc

    mc.copy = types.SimpleNamespace(deepcopy=direct.copied, copy=copy.copy)  # type: ignore[attr-defined]


def _project_top_level_fields() -> None:
    """A projection that keeps (or leaves out) top-level fields copies just those.

    mongomock interprets every projection path by path for every document returned,
    which made reading a page of pending events (three fields each) cost more than
    counting them. A projection of plain top-level names, all kept or all left out
    (and `_id` either way), is applied here with the same result; anything else (dotted
    paths, operators, a mix, another document class) goes to the original.
    """
    import mongomock.collection as mc

    original = mc.Collection._copy_only_fields

    def project(self: Any, doc: Any, fields: Any, container: Any) -> Any:
        if container is not dict:
            return original(self, doc, fields, container)
        if fields is None:
            return direct.returned(doc)
        others = {k: v for k, v in fields.items() if k != "_id"} if isinstance(
            fields, dict) else {}
        flags = {v for v in others.values() if v in (0, 1)}
        if not others or len(flags) != 1 or len(others) != sum(
                1 for v in others.values() if v in (0, 1)) or any(
                not isinstance(k, str) or "." in k or k[:1] == "$" for k in others):
            return original(self, doc, fields, container)
        if flags == {1}:
            out = {k: direct.returned(doc[k]) for k in others if k in doc}
        else:
            out = {k: direct.returned(v) for k, v in doc.items() if k not in others}
        if fields.get("_id", 1) in (0, False):
            out.pop("_id", None)
        elif "_id" in doc:
            out["_id"] = doc["_id"]
        return out

    project.original = original  # type: ignore[attr-defined]
    mc.Collection._copy_only_fields = project  # type: ignore[method-assign]


def _read_up_to_the_limit() -> None:
    """An unsorted cursor with a limit tests and copies documents up to its limit only.

    mongomock computes every matching document before it applies `limit`: a fold reading
    a page of 500 pending events tested and copied the whole backlog, page after page.
    Unsorted, the first documents of the full answer are the answer (skip, then limit),
    so the rest is not computed; a sort, or no limit, goes to the original.
    """
    import itertools

    from mongomock.collection import Cursor

    original = Cursor._compute_results

    def compute(self: Any, with_limit_and_skip: bool = False) -> Any:
        stale = not self._results or self._factory_last_generated_results != self._factory
        if stale and self._limit and not self._sort \
                and not self.collection.codec_options.tz_aware:
            self._results = list(itertools.islice(self._factory(),
                                                  self._skip + abs(self._limit)))
            self._factory_last_generated_results = self._factory
        return original(self, with_limit_and_skip)

    compute.original = original  # type: ignore[attr-defined]
    Cursor._compute_results = compute  # type: ignore[method-assign]


def _plain_fields(filter: Any) -> list[tuple[str, tuple[Any, ...]]]:
    """The top-level fields of a filter that must equal one of some plain values (or
    booleans: the folds' `{rolled: false}`, app/backends/folds.py)."""
    out: list[tuple[str, tuple[Any, ...]]] = []
    for field, condition in (filter.items() if isinstance(filter, dict) else ()):
        if field.startswith("$") or "." in field:
            continue
        if direct.scalar(condition):
            out.append((field, (condition,)))
        elif isinstance(condition, dict) and list(condition) == ["$in"] and isinstance(
                condition["$in"], list | tuple) and all(
                v is None or direct.scalar(v) for v in condition["$in"]):
            out.append((field, tuple(condition["$in"])))
    return out


def _ruled_out(plain: list[tuple[str, tuple[Any, ...]]], document: dict[str, Any]) -> bool:
    """True only when the filter surely rejects the document (a plain value or boolean,
    or a missing one, outside what the field allows); anything else (arrays, documents,
    dates) is left to mongomock. A scan for the few pending documents (`{rolled: false}`)
    so passes over the many counted ones (no such field) without the full test."""
    for field, allowed in plain:
        value = document.get(field)
        if value is None:
            if None not in allowed:
                return True
        elif direct.scalar(value) and value not in allowed:
            return True
    return False


def _teach_mongomock_date_arithmetic() -> None:
    """`$add` of a date and milliseconds is a date, as in MongoDB; mongomock adds numbers only.

    The update pipelines that re-stamp `expireAt` (app/shops/registry.py) and restart a merged
    cart's clock (app/identity/linking.py) need it, so the embedded store runs them too.
    """
    from datetime import timedelta

    from mongomock.aggregate import _Parser

    original = _Parser._handle_arithmetic_operator

    def arithmetic(self: Any, operator: str, values: Any) -> Any:
        if operator == "$add" and isinstance(values, list | tuple):
            parsed = list(self.parse_many(values))
            dates = [v for v in parsed if isinstance(v, datetime)]
            if len(dates) == 1 and all(
                    isinstance(v, int | float) for v in parsed if v is not dates[0]):
                return dates[0] + timedelta(milliseconds=sum(
                    v for v in parsed if v is not dates[0]))
        return original(self, operator, values)

    _Parser._handle_arithmetic_operator = arithmetic  # type: ignore[method-assign]


def _match_before_copying() -> None:
    """Run an aggregation's leading `$match` (and `$project` of kept fields) as a query.

    mongomock copies every document of the collection, whole, before the first
    stage; here only those the `$match` selects are copied, and of them only the
    fields a following `$project` keeps (the same filter and projection, on the
    same documents). The cursor carries how many were selected (`examined`).
    """
    from mongomock.aggregate import process_pipeline
    from mongomock.collection import Collection as MockCollection

    original = MockCollection.aggregate

    def aggregate(self: Any, pipeline: Any, session: Any = None, **kwargs: Any) -> Any:
        head = pipeline[0] if pipeline else None
        if not (isinstance(head, dict) and list(head) == ["$match"]) or session:
            return original(self, pipeline, session, **kwargs)
        rest = pipeline[1:]
        keep = rest[0].get("$project") if rest and list(rest[0]) == ["$project"] else None
        if keep and all(v in (1, True) for v in keep.values()):
            selected = list(self.find(head["$match"], keep))
            rest = rest[1:]
        else:
            selected = list(self.find(head["$match"]))
        cursor = process_pipeline(selected, self.database, rest, session)
        cursor.examined = len(selected)  # documents read, for RoundTrips (storage.py)
        return cursor

    MockCollection.aggregate = aggregate  # type: ignore[method-assign]


_UNHASHABLE = object()


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        items = tuple((k, _hashable(v)) for k, v in value.items())
        return _UNHASHABLE if any(v is _UNHASHABLE for _, v in items) else ("{}", items)
    try:
        hash(value)
    except TypeError:
        return _UNHASHABLE
    return value


def _group_in_one_pass() -> None:
    """`$group` with each document's key computed once, and grouped in a dict.

    mongomock sorts the documents by their key (computing it on every
    comparison) to group them; here the groups come out in that same order,
    sorting only the distinct keys. Keys that are not hashable (arrays) go to
    the original.
    """
    import mongomock.aggregate as agg
    from mongomock.filtering import BsonComparable

    original = agg._PIPELINE_HANDLERS["$group"]

    def group(in_collection: Any, database: Any, options: Any) -> Any:
        key_expression = options["_id"]
        if not key_expression:
            return original(in_collection, database, options)
        groups: dict[Any, tuple[Any, list[Any]]] = {}
        for seen, doc in enumerate(in_collection):
            check(seen)
            try:
                key = agg._parse_expression(key_expression, doc, ignore_missing_keys=True)
            except KeyError:
                key = None
            marker = _hashable(key)
            if marker is _UNHASHABLE:
                return original(in_collection, database, options)
            groups.setdefault(marker, (key, []))[1].append(doc)
        out = []
        for key, docs in sorted(groups.values(), key=lambda g: BsonComparable(g[0])):
            accumulated = agg._accumulate_group(options, docs)
            accumulated["_id"] = key
            out.append(accumulated)
        return out

    group.original = original  # type: ignore[attr-defined]
    agg._PIPELINE_HANDLERS["$group"] = group


def _iterate_cursors_without_slicing() -> None:
    """A cursor's next document by its index, instead of slicing the results per document.

    mongomock's `Cursor.__next__` slices the whole result list (skip, then
    limit) for every document it returns, which makes reading n documents cost
    n^2; here the same document is found by its index.
    """
    from mongomock.collection import Cursor

    def next_document(self: Any) -> Any:
        if self._limit and self._emitted >= abs(self._limit):
            raise StopIteration
        results = self._compute_results()
        index = self._skip + self._emitted
        if index >= len(results):
            raise StopIteration
        self._emitted += 1
        return results[index]

    next_document.original = Cursor.__next__  # type: ignore[attr-defined]
    Cursor.__next__ = next_document  # type: ignore[method-assign]


def _match_in_by_set() -> None:
    """`$in` against a set built once per list, instead of a scan of the list per document.

    mongomock tests every document against an `$in` list by scanning the list (and
    first testing each value for a regex), so reading n documents by `_id: {$in: n
    ids}` cost n^2: 1,000 products cost a million checks. A list of plain hashable
    values (no regex) is turned into a set once and kept while the same list object
    is used; anything else goes to the original.
    """
    import mongomock.filtering as filtering

    original = filtering._in_op
    last: list[Any] = [None, None, 0]  # the list, its set, its length

    def in_op(doc_val: Any, search_val: Any) -> Any:
        if not isinstance(search_val, list | tuple) or len(search_val) < 16:
            return original(doc_val, search_val)
        if last[0] is not search_val or last[2] != len(search_val):
            try:
                if any(isinstance(x, filtering._RE_TYPES) for x in search_val):
                    return original(doc_val, search_val)
                last[:] = [search_val, set(search_val), len(search_val)]
            except TypeError:  # an unhashable value (a document): the original compares
                return original(doc_val, search_val)
        if doc_val is filtering.NOTHING:
            return None in last[1]
        try:
            return any(x in last[1] for x in filtering._force_list(doc_val))
        except TypeError:
            return original(doc_val, search_val)

    operators = filtering._filterer_inst._operator_map
    operators["$in"] = in_op
    operators["$nin"] = lambda doc_val, search_val: not in_op(doc_val, search_val)


def _read_cursors_in_batches() -> None:
    """`to_list(length)` returns at most `length` documents and the cursor reads on from
    there at the next call, as motor's does; mongomock_motor's returned them all at once.

    Every read that gives a length also gives the same `limit`, so their answers are
    unchanged; a cursor kept open and read in pages (app/catalog/walks.py) needs it.
    """
    import itertools

    from mongomock_motor import AsyncCursor

    async def to_list(self: Any, length: int | None = None) -> list[Any]:
        cursor = self._AsyncCursor__cursor
        return list(itertools.islice(cursor, length) if length else cursor)

    AsyncCursor.to_list = to_list  # type: ignore[method-assign]


def _insert_many_under_one_lock() -> None:
    """`insert_many` takes the store's lock once per batch, not twice per document.

    mongomock inserts a list one document at a time, each asking the store (under its
    reader lock) whether the `_id` is taken, then storing it (under its writer lock):
    that locking was half the cost of storing a trigger. Here each document gets the
    same checks (field names, BSON, the `_id` taken or not) and the same stored form,
    and the same write errors are reported per index; a collection with a unique
    secondary index (none here: app/core/keys.py) or a session goes to the original.
    """
    from collections.abc import Mapping

    import mongomock.collection as mc
    import mongomock.helpers as helpers
    from mongomock import BulkWriteError, DuplicateKeyError, ObjectId, WriteError

    original = mc.Collection._insert

    def insert(self: Any, data: Any, session: Any = None, ordered: bool = True) -> Any:
        store = self._store
        if session or isinstance(data, Mapping) or mc.BSON is None or any(
                index.get("unique") for index in store.indexes.values()):
            return original(self, data, session, ordered=ordered)
        store._remove_expired_documents()
        results: list[Any] = []
        errors: list[dict[str, Any]] = []
        with store._rwlock.writer():
            documents = store._documents
            for index, item in enumerate(data):
                try:
                    if not all(isinstance(k, str) for k in item):
                        raise ValueError("Document keys must be strings")
                    mc._validate_data_fields(item)
                    mc.BSON.encode(item, check_keys=False)
                    if "_id" not in item:
                        item["_id"] = ObjectId()
                    key = item["_id"]
                    if isinstance(key, dict):
                        key = helpers.hashdict(key)
                    if key in documents:
                        raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
                    documents[key] = helpers.patch_datetime_awareness_in_document(item)
                    results.append(item["_id"])
                except WriteError as error:
                    errors.append({"index": index, "code": error.code, "errmsg": str(error),
                                   "op": item})
                    if ordered:
                        break
        _note(store, [r if not isinstance(r, dict) else helpers.hashdict(r) for r in results])
        if errors:
            raise BulkWriteError({"writeErrors": errors, "nInserted": len(results)})
        return results

    mc.Collection._insert = insert  # type: ignore[method-assign]
