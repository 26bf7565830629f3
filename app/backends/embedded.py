"""The embedded store: mongomock, made fit for the demo and the tests.

mongomock answers like MongoDB but was built for correctness, not speed, and
predates the pymongo we use. Each fix below keeps its answers unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any


def prepare_mongomock() -> None:
    """Apply the fixes once per process."""
    import mongomock.helpers

    if getattr(mongomock.helpers, "_prepared_by_tracker", False):
        return
    _teach_mongomock_sort()
    _give_mongomock_an_id_index()
    _speed_up_date_patching()
    _teach_mongomock_date_arithmetic()
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

    scan = MockCollection._iter_documents

    def by_key(self: Any, filter: Any) -> Any:
        wanted = filter.get("_id") if isinstance(filter, dict) else None
        if isinstance(wanted, dict) and set(wanted) == {"$in"} and isinstance(
                wanted["$in"], list | tuple):
            keys = list(wanted["$in"])
        elif isinstance(wanted, str | int) and not isinstance(wanted, bool):
            keys = [wanted]
        else:
            return scan(self, filter)
        if not all(isinstance(k, str | int) and not isinstance(k, bool) for k in keys):
            return scan(self, filter)
        documents = self._store._documents
        candidates = [documents[k] for k in dict.fromkeys(keys) if k in documents]
        return (d for d in candidates if filter_applies(filter, d))

    MockCollection._iter_documents = by_key  # type: ignore[method-assign]


def _teach_mongomock_date_arithmetic() -> None:
    """`$add` of a date and milliseconds is a date, as in MongoDB; mongomock adds numbers only.

    The update pipelines that re-stamp `expireAt` (app/shops.py) and restart a merged
    cart's clock (app/linking.py) need it, so the embedded store runs them too.
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
