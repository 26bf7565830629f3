"""Sessionization: when a visitor's event opens a new session.

The rule: an event opens a new session when the visitor has none yet, when it
comes more than the shop's session timeout after the visitor's previous event,
or when it is a visit (`startVisit`) later than the current session's start (so
a retried visit does not open a second session).

The visitor document carries its current session, and one atomic
`find_one_and_update` applies the rule to a batch of the visitor's events. It
returns the document as it was before, and `plan` re-derives from it the same
decision, so both sides of the rule are in this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import abandonment
from app.core import session_id_for
from app.recommendations import window_update


@dataclass(frozen=True)
class Current:
    """The visitor's current session, as stored on the visitor document."""

    session_id: str
    start_ms: int
    last_ms: int
    events: int

    @classmethod
    def from_visitor(cls, doc: dict[str, Any] | None) -> Current | None:
        if not doc or not doc.get("sid"):
            return None
        return cls(doc["sid"], doc["sStartMs"], doc["sLastMs"], doc["sEvents"])


@dataclass(frozen=True)
class Hit:
    """One event of the batch, for sessionization."""

    at_ms: int
    starts_visit: bool


@dataclass
class Segment:
    """Consecutive events of a batch that fall into one session."""

    first: int  # index in the batch of its first event
    size: int  # events of the batch in it
    count: int  # events in the session, with those stored before the batch
    start_ms: int
    last_ms: int
    session_id: str = ""
    continues_stored: bool = False


def opens_session(current: Current | None, hit: Hit, timeout_ms: int) -> bool:
    """THE rule, for an event against the session it would otherwise join."""
    if current is None:
        return True
    if hit.starts_visit and hit.at_ms > current.start_ms:
        return True
    return hit.at_ms > current.last_ms + timeout_ms


def split(hits: list[Hit], timeout_ms: int) -> list[Segment]:
    """Cut a batch into sessions by the rule, the first one still open to the stored state."""
    segments: list[Segment] = []
    for index, hit in enumerate(hits):
        seg = segments[-1] if segments else None
        inner = Current("", seg.start_ms, seg.last_ms, seg.count) if seg else None
        if seg is None or opens_session(inner, hit, timeout_ms):
            segments.append(Segment(index, 1, 1, hit.at_ms, hit.at_ms))
        else:
            seg.size += 1
            seg.count += 1
            seg.last_ms = max(seg.last_ms, hit.at_ms)
    return segments


def plan(
    before: Current | None, visitor_id: str, hits: list[Hit], timeout_ms: int
) -> list[Segment]:
    """The sessions of a batch, given the visitor's session before it was applied."""
    segments = split(hits, timeout_ms)
    for seg in segments:
        seg.session_id = session_id_for(visitor_id, seg.start_ms)
    head = segments[0]
    if before is not None and not opens_session(before, hits[0], timeout_ms):
        head.continues_stored = True
        head.session_id = before.session_id
        head.start_ms = before.start_ms
        head.last_ms = max(before.last_ms, head.last_ms)
        head.count += before.events
    return segments


def _lit(value: Any) -> dict[str, Any]:
    return {"$literal": value}


def visitor_update(
    *,
    shop_id: int,
    visitor_id: str,
    hits: list[Hit],
    timeout_ms: int,
    session_fields: dict[str, Any],
    seen_from: datetime,
    seen_to: datetime,
    user_id: str | None,
    batch_ids: list[str] | None = None,
    watch: abandonment.Watch | None = None,
    views: list[dict[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """The update pipeline that applies `plan` atomically to the stored visitor.

    `session_fields` are the fields a newly opened session starts with (source,
    landing page, referrer), stored with the `s` prefix. With `watch`, the current
    session's abandoned-browse state goes along (app/abandonment/watch.py); with `views` (the
    batch's product views, `{p, c}` or None per hit), the session's window of products
    viewed (`sViews`, app/recommendations/pairs.py).
    """
    segments = split(hits, timeout_ms)
    head, last = segments[0], segments[-1]
    exists = {"$ne": [{"$ifNull": ["$sid", None]}, None]}
    # Written without $not, which mongomock evaluates wrongly.
    within_timeout = {"$lte": [hits[0].at_ms, {"$add": ["$sLastMs", timeout_ms]}]}
    conditions = [exists, within_timeout]
    if hits[0].starts_visit:
        conditions.append({"$lte": [hits[0].at_ms, "$sStartMs"]})
    continues = {"$and": conditions}

    def either(stored: Any, fresh: Any) -> dict[str, Any]:
        return {"$cond": ["$_continues", stored, fresh]}

    if len(segments) == 1:
        session = {
            "sid": either("$sid", _lit(session_id_for(visitor_id, head.start_ms))),
            "sStartMs": either("$sStartMs", head.start_ms),
            "sLastMs": either({"$max": ["$sLastMs", head.last_ms]}, head.last_ms),
            "sEvents": either({"$add": ["$sEvents", head.count]}, head.count),
            **{k: either(f"${k}", _lit(v)) for k, v in session_fields.items()},
        }
    else:
        session = {
            "sid": _lit(session_id_for(visitor_id, last.start_ms)),
            "sStartMs": last.start_ms,
            "sLastMs": last.last_ms,
            "sEvents": last.count,
            **{k: _lit(v) for k, v in session_fields.items()},
        }
    fields: dict[str, Any] = {
        "shopId": shop_id,
        "visitorId": _lit(visitor_id),
        "firstSeenAt": {"$min": [{"$ifNull": ["$firstSeenAt", seen_from]}, seen_from]},
        "lastSeenAt": {"$max": [{"$ifNull": ["$lastSeenAt", seen_to]}, seen_to]},
        **session,
    }
    if user_id is not None:
        fields["userId"] = _lit(user_id)
    if views is not None:
        single = len(segments) == 1
        fields["sViews"] = window_update([v for v in views[0 if single else last.first:] if v],
                                         "$_continues" if single else False)
    watching: list[dict[str, Any]] = []
    if watch is not None:  # the current session's abandoned-browse state (app/abandonment/watch.py)
        single = len(segments) == 1
        marks = watch.marks if single else watch.marks[last.first:]
        fields.update(abandonment.visitor_fields(marks, "$_continues" if single else False))
        watching = [abandonment.due_stage(watch.delays)]
    stages: list[dict[str, Any]] = []
    keep: list[dict[str, Any]] = []
    if batch_ids:
        stages = restart_stages(batch_ids, [h.at_ms for h in hits])
        # The very same batch again: the visitor stays as its first attempt left it.
        keep = [{"$replaceRoot": {"newRoot": {"$cond": ["$_same", "$_keep", "$$ROOT"]}}}]
    return [*stages, {"$set": {"_continues": continues}}, {"$set": fields}, *watching, *keep,
            {"$project": {"_continues": 0, "_again": 0, "_same": 0, "_keep": 0}}]


# What a batch changes on the visitor; kept as it was before the batch, to start over from.
RESTORED = ("userId", "sid", "sStartMs", "sLastMs", "sEvents", "sSource", "sLanding",
            "sReferrer", "sViews", *abandonment.WATCHED)


def restart_stages(batch_ids: list[str], times_ms: list[int]) -> list[dict[str, Any]]:
    """Stages that make a retried batch start from the state before its first attempt.

    A batch is known by its first event id (a retry resends the failed events first,
    maybe followed by newer ones). The visitor remembers its last batch: its first id,
    its ids, its events' times (`ats`) and the fields it changed, as they were before.

    The very same batch again (`_same`: the same ids; a plain retry, or the same batch
    sent twice at once) may carry other times: the server places an event by the
    client's `sentAt`, which a retry sends anew. Deciding its sessions again from those
    would open sessions its events are not in; so the visitor is kept as it is (`_keep`,
    put back at the end) and `plan` replays the first attempt's times (`ats`).
    """
    again = {"$eq": [{"$ifNull": ["$lastBatch.first", None]}, _lit(batch_ids[0])]}
    same = {"$and": ["$_again", {"$eq": [{"$ifNull": ["$lastBatch.ids", None]},
                                         _lit(batch_ids)]}]}
    restore = {f: {"$cond": ["$_again", {"$ifNull": [f"$lastBatch.before.{f}", None]},
                             {"$ifNull": [f"${f}", None]}]} for f in RESTORED}
    remember = {"lastBatch": {"first": _lit(batch_ids[0]), "ids": _lit(batch_ids),
                              "ats": _lit(times_ms),
                              "before": {f: f"${f}" for f in RESTORED}}}
    return [{"$set": {"_again": again}}, {"$set": {"_same": same}},
            {"$set": {"_keep": {"$cond": ["$_same", "$$ROOT", None]}}},
            {"$set": restore}, {"$set": remember}]


def retried_batch(stored: dict[str, Any] | None, first_id: str) -> set[str]:
    """The event ids of the batch's first attempt, when this batch is its retry."""
    last = (stored or {}).get("lastBatch") or {}
    return set(last.get("ids") or []) if last.get("first") == first_id else set()


def first_times(stored: dict[str, Any] | None, batch_ids: list[str]) -> list[int]:
    """The first attempt's event times, when this batch starts with that attempt's events
    (a retry: the same batch, maybe followed by newer events); else none."""
    last = (stored or {}).get("lastBatch") or {}
    ids, ats = last.get("ids") or [], last.get("ats") or []
    if not ids or len(ats) != len(ids) or batch_ids[: len(ids)] != ids:
        return []
    return list(ats)


def correction(
    visitor_id: str, before: Current | None, sent: list[Hit], first: list[Hit], timeout_ms: int
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A retry followed by newer events was applied with the times it was sent with; its
    resent events are stored with their first attempt's (`first`). When that moves the
    visitor's current session, the filter and update that put it where `plan` puts it."""
    wrong = plan(before, visitor_id, sent, timeout_ms)[-1]
    right = plan(before, visitor_id, first, timeout_ms)[-1]
    if (wrong.session_id, wrong.start_ms, wrong.last_ms, wrong.count) == (
            right.session_id, right.start_ms, right.last_ms, right.count):
        return None
    return ({"sid": wrong.session_id, "sEvents": wrong.count},
            {"$set": {"sid": right.session_id, "sStartMs": right.start_ms,
                      "sLastMs": right.last_ms, "sEvents": right.count,
                      "lastBatch.ats": [h.at_ms for h in first]}})


def as_before(stored: dict[str, Any] | None, again: bool) -> dict[str, Any] | None:
    """The visitor as the batch found it: before its first attempt, when it is a retry."""
    if stored is None or not again:
        return stored
    return {**stored, **stored["lastBatch"]["before"]}
