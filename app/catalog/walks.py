"""Read-ahead for fan-out walks: one open cursor per walk, kept by this process between runs.

A walk (app/catalog/fanout.py) reads its customers in index order, from the place its
last saved page ended at (`after`). Opening a read from a place costs an index seek on
MongoDB, but on the embedded store a scan: mongomock has no secondary indexes, so each
opening filters, sorts and copies every match (100,000 interests: seconds). Reading on
from an open cursor costs one batch on either. So the process keeps the cursor of each
walk it works, with the place its last page ended at. The next run of that walk here
reads on from it only if the saved place is that same place; otherwise (another process
walked meanwhile, a page's writes failed, this process restarted) it opens a new one
from the saved place.

A cursor is only ever a faster way to read what the saved place says comes next: the
lease decides who walks, the saved place where, the trigger ids that nothing is stored
twice. A cursor that failed is not kept. At most KEPT are kept, the least recently used
closed first; a walk whose phase ends closes its own.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

KEPT = 16


class Walks:
    """This process's open walk cursors, by walk (product, change, phase)."""

    def __init__(self) -> None:
        self._open: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()

    async def take(self, walk: tuple[Any, ...], after: Any) -> Any | None:
        """The kept cursor of `walk` if it stopped at `after` (it is no longer kept:
        the caller owns it), else None."""
        kept = self._open.pop(walk, None)
        if kept is None:
            return None
        place, cursor = kept
        if place == after:
            return cursor
        await cursor.close()  # the walk went on elsewhere: its place is stale
        return None

    async def keep(self, walk: tuple[Any, ...], after: Any, cursor: Any) -> None:
        """Keep `cursor`, which read up to `after` (the place just saved)."""
        old = self._open.pop(walk, None)
        if old is not None and old[1] is not cursor:
            await old[1].close()
        self._open[walk] = (after, cursor)
        while len(self._open) > KEPT:
            _, (_, evicted) = self._open.popitem(last=False)
            await evicted.close()

    async def close(self) -> None:
        """Close every kept cursor (the process stops)."""
        while self._open:
            _, (_, cursor) = self._open.popitem()
            await cursor.close()

    def __len__(self) -> int:
        return len(self._open)
