"""Importing a feed: fetch it safely, read it through once, then apply it in batches.

Fetching keeps to the webhooks' address rule (CONTRACT.md section 8): the URL's
form is checked, its host must resolve to public addresses only (unless
`TRACKER_WEBHOOK_ALLOW_PRIVATE`), and the connection is made by the webhooks'
client, which checks the address it connects to (no DNS rebinding), follows no
redirect and reads no proxy from the environment. The body goes to a temporary
file, never into memory, and the download stops at MAX_BYTES (50 MB): a longer
feed is refused.

The file is then read twice, as a stream (app/catalog/feeds.py): a first pass
to the end finds whether it is a safe feed at all, so a bad one is refused
before anything is written; the second applies its offers 1,000 at a time
through the same upsert as the API. The same feed twice changes nothing the
second time: every product compares equal and counts as `unchanged`.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx

from app.catalog.feeds import BadOffer, FeedError, offers
from app.catalog.store import Catalog, Result
from app.core import BadInput
from app.webhooks import check_destination, check_url, make_client

MAX_BYTES = 50 * 1024 * 1024
BATCH = 1000
FETCH_SECONDS = 120.0


async def fetch(url: str, allow_private: bool, into: Any, timeout: float = FETCH_SECONDS) -> int:
    """Download `url` into the open binary file `into`; its size, or BadInput."""
    url = check_url(url)
    await check_destination(url, allow_private)
    size = 0
    async with make_client(timeout, allow_private, connections=1) as client:
        try:
            async with asyncio.timeout(timeout), client.stream(
                    "GET", url, headers={"accept-encoding": "identity",
                                         "user-agent": "smartcom-tracker-catalog"}) as response:
                if response.status_code != 200:
                    raise BadInput(f"the feed answered HTTP {response.status_code}", field="url")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_BYTES:
                    raise _too_big()
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise _too_big()
                    into.write(chunk)
        except TimeoutError:
            raise BadInput(f"the feed did not arrive within {timeout:g} s", field="url") from None
        except httpx.HTTPError as error:
            raise BadInput(f"the feed could not be fetched: {type(error).__name__}: "
                           f"{str(error)[:200]}", field="url") from None
    into.flush()
    return size


def _too_big() -> BadInput:
    return BadInput(f"the feed is larger than {MAX_BYTES // (1024 * 1024)} MB", field="url")


def scan(path: str) -> int:
    """Read the whole feed once; the number of offers, or BadInput if it is not a safe feed."""
    try:
        return sum(1 for _ in offers(path))
    except FeedError as error:
        raise BadInput(str(error), field="url") from None


Batch = tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, BadOffer]]]


def batches(path: str) -> Iterator[Batch]:
    """The feed's offers in batches: (good offers, bad offers), each with its index."""
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, BadOffer]] = []
    for index, offer in offers(path):
        if isinstance(offer, BadOffer):
            bad.append((index, offer))
        else:
            good.append((index, offer))
        if len(good) + len(bad) >= BATCH:
            yield good, bad
            good, bad = [], []
    if good or bad:
        yield good, bad


async def import_feed(catalog: Catalog, shop_id: int, url: str, allow_private: bool) -> Result:
    """Fetch and apply the feed at `url`; BadInput (nothing changed) if it is not one."""
    with tempfile.NamedTemporaryFile(prefix="feed-", suffix=".xml") as file:
        await fetch(url, allow_private, file)
        # Parsing is CPU work: off the event loop, so tracking goes on meanwhile.
        await asyncio.to_thread(scan, file.name)
        return await apply(catalog, shop_id, file.name)


async def apply(catalog: Catalog, shop_id: int, path: str) -> Result:
    total = Result()
    reader = batches(path)
    while True:
        batch = await asyncio.to_thread(next, reader, None)
        if batch is None:
            return total
        good, bad = batch
        for index, error in bad:
            total.received += 1
            total.reject(index, error.product_id, str(error))
        if good:
            total.add(await catalog.upsert(shop_id, [o for _, o in good],
                                           indexes=[i for i, _ in good]))
