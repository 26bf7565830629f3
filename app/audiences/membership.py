"""Audience memberships: who is in which audience, and the triggers of entering and leaving.

One document per (audience, customer), kept from one episode to the next:

    _id "<shop>:<audienceId>:<userId>", shopId, audienceId, userId, visitorId,
    member     in the audience now
    episode    how many times the customer entered (trigger ids count with it)
    stored     the forward-decayed value S the exit was computed from
    exitAt     while a member: when the score decays to minScore, T0 + H*log2(S/minScore)
    dueAt      when the exit worker must look at it (app/audiences/worker.py)
    pending    triggers decided by the last change, maybe not yet in the log
    rev        changes with every write: each write is conditional on the rev it read

A change is one conditional update that also records its triggers in `pending`;
the writer then stores them (outbox) and clears `pending`. Trigger ids are
deterministic (`<membership>:in:<episode>`, `<membership>:out:<episode>`), so a
writer that finds triggers pending (its predecessor died, or it lost a race)
stores them again harmlessly: the log drops the duplicate and publishes nothing
twice. A document with triggers pending is due in GRACE, so the worker finishes
what a dead writer left. Of two writers that read the same rev only one wins;
the other reads again and decides again (an enter becomes a move, say).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.errors import BulkWriteError

from app import interests, triggers
from app.backends.storage import duplicate_indexes
from app.core import interest_key, utc
from app.interests import Frame
from app.platform import Platform
from app.shops import Shop

GRACE = timedelta(seconds=2)  # a change's triggers are stored by then, or the worker does it
ROUNDS = 3  # a change that lost a race is decided again this many times, then left


def membership_key(shop_id: int, audience_id: str, user_id: str) -> str:
    return f"{shop_id}:{audience_id}:{user_id}"


def new_rev() -> str:
    return secrets.token_hex(6)


@dataclass
class Reading:
    """A customer's current stored value for the item of one audience."""

    audience: dict[str, Any]
    user_id: str
    stored: float
    visitor_id: str = ""
    before: float | None = None  # the stored value before this write; None: not known

    @property
    def key_parts(self) -> tuple[str, str]:
        return self.audience["audienceId"], self.user_id


@dataclass
class Change:
    """The new state of one membership, conditional on the rev it was decided from."""

    key: str
    rev: str | None  # None: the document does not exist yet
    fields: dict[str, Any] = field(default_factory=dict)
    fired: list[dict[str, Any]] = field(default_factory=list)
    due: datetime | None = None  # dueAt once the triggers are stored
    delete: bool = False
    written_rev: str = field(default_factory=new_rev)


def audience_trigger(
    shop_id: int, key: str, entered: bool, episode: int, audience: dict[str, Any],
    user_id: str, visitor_id: str, now: datetime, score: float, exit_at: datetime | None,
) -> dict[str, Any]:
    type_ = triggers.AUDIENCE_ENTERED if entered else triggers.AUDIENCE_EXITED
    doc = triggers.make(
        f"{key}:{'in' if entered else 'out'}:{episode}", type_, shop_id, fired_at=now,
        visitor_id=visitor_id, user_id=user_id, name=audience["audienceId"],
        properties={"minScore": audience["minScore"],
                    "exitAt": utc(exit_at).isoformat() if exit_at else None},
    )
    doc["audienceId"] = audience["audienceId"]
    doc["score"] = score
    return doc


def decide(
    shop_id: int, frame: Frame, reading: Reading, doc: dict[str, Any] | None, now: datetime
) -> Change | None:
    """What a (raised) stored value means for the membership: enter, or a later exit."""
    audience, user_id = reading.audience, reading.user_id
    threshold = audience["minScore"]
    if not frame.holds(reading.stored, threshold, now):
        return None  # not in; a member below it was due already, the worker sees to it
    score = frame.score(reading.stored, now)
    exit_at = frame.falls_below(reading.stored, threshold)
    key = membership_key(shop_id, audience["audienceId"], user_id)
    rev = doc["rev"] if doc else None
    if doc and doc.get("member"):
        if utc(doc["exitAt"]) > now:
            # Its exit comes later now; the stored moment stays a lower bound, and the worker,
            # computing the exit again when it comes, moves it (a write saved per interaction).
            return None
        if reading.before is None or frame.holds(reading.before, threshold, now):
            # Due, but not known to have been below minScore: it stays, with its new exit.
            return Change(key, rev, {"stored": reading.stored, "exitAt": exit_at}, due=exit_at)
    episode = doc.get("episode", 0) if doc else 0
    fired = []
    if doc and doc.get("member") and reading.before is not None:
        # Its exit was due and not yet fired when this interaction lifted it: it left (its
        # score before this write was below minScore), then came back.
        fired.append(audience_trigger(
            shop_id, key, False, episode, audience, user_id, doc.get("visitorId", ""), now,
            frame.score(reading.before, now), frame.falls_below(reading.before, threshold)))
    fired.append(audience_trigger(shop_id, key, True, episode + 1, audience, user_id,
                                  reading.visitor_id, now, score, exit_at))
    return Change(key, rev, {
        "audienceId": audience["audienceId"], "userId": user_id, "member": True,
        "episode": episode + 1, "stored": reading.stored, "exitAt": exit_at,
        "enteredAt": now, "visitorId": reading.visitor_id or (doc or {}).get("visitorId", ""),
    }, fired, due=exit_at)


async def read(platform: Platform, shop_id: int, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    docs = await platform.storage.memberships.find(
        {"shopId": shop_id, "_id": {"$in": wanted}}).to_list(None)
    return {d["_id"]: d for d in docs}


async def apply(
    platform: Platform, shop_id: int, changes: list[Change], docs: dict[str, dict[str, Any]]
) -> tuple[list[Change], list[dict[str, Any]]]:
    """Write the changes; returns those that won and the triggers newly stored.

    `docs` are the documents the changes were decided from: triggers they still have
    pending are stored first, since the changes replace them.
    """
    if not changes:
        return [], []
    outbox, memberships = platform.outbox, platform.storage.memberships
    now = platform.clock.now()
    carried = [t for c in changes for t in (docs.get(c.key) or {}).get("pending", [])]
    fresh = await outbox.record([dict(t) for t in carried]) if carried else []
    ops = [_write_op(shop_id, c, now) for c in changes]
    applied = 0
    try:
        result = await memberships.bulk_write(ops, ordered=False)
        applied = result.matched_count + result.upserted_count + result.deleted_count
    except BulkWriteError as error:
        duplicate_indexes(error)  # raises any refusal but a duplicate key
        # A document created meanwhile by another writer: that change lost.
    won = changes
    if applied < len(changes):
        now_docs = await read(platform, shop_id, [c.key for c in changes])
        won = [c for c in changes if (c.delete and c.key not in now_docs)
               or (now_docs.get(c.key) or {}).get("rev") == c.written_rev]
    fresh += await outbox.record([t for c in won for t in c.fired])
    settle = [UpdateOne({"_id": c.key, "shopId": shop_id, "rev": c.written_rev},
                        {"$set": {"pending": [], "dueAt": c.due, "rev": new_rev()}})
              for c in won if c.fired and not c.delete]
    if settle:
        await memberships.bulk_write(settle, ordered=False)
    return won, fresh


def _write_op(shop_id: int, change: Change, now: datetime) -> UpdateOne | DeleteOne:
    if change.delete:
        return DeleteOne({"_id": change.key, "shopId": shop_id, "rev": change.rev})
    state = {**change.fields, "rev": change.written_rev, "pending": change.fired,
             "dueAt": now + GRACE if change.fired else change.due}
    if change.rev is None:
        return UpdateOne({"_id": change.key, "shopId": shop_id, "rev": {"$exists": False}},
                         {"$set": state}, upsert=True)
    return UpdateOne({"_id": change.key, "shopId": shop_id, "rev": change.rev}, {"$set": state})


async def reconcile(
    platform: Platform, shop: Shop, readings: list[Reading], frame: Frame | None = None
) -> list[dict[str, Any]]:
    """Bring memberships in line with these (raised) stored values; returns the new triggers.

    The hot path after an interaction, and the filling of a new audience, both end here.
    """
    frame = frame or shop.interest_frame
    shop_id = shop.shop_id
    best: dict[str, Reading] = {}
    for r in readings:
        key = membership_key(shop_id, *r.key_parts)
        if key not in best or r.stored > best[key].stored:
            best[key] = r
    now = platform.clock.now()
    # At or above minScore now, and not already before this write (a customer who was is
    # a member already: nothing to read or write).
    threshold_met = {k: r for k, r in best.items()
                     if frame.holds(r.stored, r.audience["minScore"], now)
                     and not (r.before is not None
                              and frame.holds(r.before, r.audience["minScore"], now))}
    fresh: list[dict[str, Any]] = []
    keys = list(threshold_met)
    for _ in range(ROUNDS):
        if not keys:
            break
        docs = await read(platform, shop_id, keys)
        changes = [c for k in keys
                   if (c := decide(shop_id, frame, threshold_met[k], docs.get(k), now))]
        won, stored = await apply(platform, shop_id, changes, docs)
        fresh += stored
        keys = sorted({c.key for c in changes} - {c.key for c in won})
    return fresh


def item_of(audience: dict[str, Any]) -> tuple[str, str]:
    """The (kind, item) of the interest score the audience follows."""
    if audience.get("productId"):
        return interests.PRODUCT, audience["productId"]
    return interests.CATEGORY, audience["categoryId"]


def by_item(shop: Shop) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The shop's audiences by the (kind, item) whose score they follow."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for audience in shop.audiences:
        out.setdefault(item_of(audience), []).append(audience)
    return out


async def after_interests(
    platform: Platform, shop: Shop, visitor_id: str, deltas: dict[str, list[interests.Delta]]
) -> None:
    """Called once the interest deltas of a batch are written: customers enter audiences.

    Costs nothing when the shop has no audience over what was touched; else one read
    of the new stored values and, for a customer who crossed minScore just now, one of
    its memberships, one write, the triggers and one more write. A replayed event (its
    first attempt failed) comes here again; its deltas may have been written already,
    so "before" is then underestimated: its memberships are read, which is all it costs.
    """
    if not shop.audiences:
        return
    added: dict[tuple[str, str, str], float] = {}
    for user_id, user_deltas in deltas.items():
        for d in user_deltas:
            key = (user_id, d.kind, d.item_id)
            added[key] = added.get(key, 0.0) + d.decayed
    matching = by_item(shop)
    wanted: dict[str, tuple[tuple[str, str, str], list[dict[str, Any]]]] = {
        interest_key(shop.shop_id, *key): (key, matching[key[1:]])
        for key in added if key[1:] in matching}
    if not wanted:
        return
    docs = await platform.storage.interests.find(
        {"shopId": shop.shop_id, "_id": {"$in": sorted(wanted)}}, {"decayed": 1}).to_list(None)
    readings = []
    for doc in docs:
        key, followed = wanted[doc["_id"]]
        stored, plus = doc.get("decayed", 0.0), added[key]
        readings += [Reading(audience, key[0], stored, visitor_id, stored - plus)
                     for audience in followed]
    await reconcile(platform, shop, readings)
