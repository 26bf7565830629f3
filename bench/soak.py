"""Soak: a real server, tracker-shaped traffic at a fixed rate, then stored vs acknowledged.

    python -m bench.soak --rate 1000 --seconds 60 --clients 4 --visitors 100

Starts `python -m app` (embedded store, demo shop 1, rate limits lifted: the
load comes from one address) on a free port, or uses `--url` for a server that
is already running (give its `--admin-key`). `--clients` processes share
`--visitors` visitors; each visitor behaves like a tracker on a page: a visit
first, then product, category and section views, cart adds and removes,
custom events, now and then a login or a registration and a checkout, sent
through the batch `track` mutation with `sentAt`, about `--batch` events a
request. Requests are scheduled at a fixed total event rate whatever the
answers (open loop; one request in flight per visitor, as a tracker does), and
latency is counted from the scheduled time, so a stalled server shows.

Afterwards every visitor's stored events are paged out with the admin key
(`events(shopId, visitorId, first: 500)`) and compared with the events the
server acknowledged (a non-null TrackResult). The summary gives the target and
achieved rates, acknowledged and stored counts, errors (HTTP status other than
200, GraphQL errors by code, transport failures) and latency p50/p99.

For an hour: `python -m bench.soak --rate 1000 --seconds 3600`; the embedded
store keeps everything in the server's memory (a few GB for 3.6M events), so
for long runs point `--url` at a server on a real MongoDB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.redis import free_port

ROOT = Path(__file__).resolve().parent.parent
SHOP_ID = 1
ADMIN_KEY = "soak-admin-key"
LIFTED = "100000000"
TRACK = (
    "mutation($e:[TrackInput!]!,$s:DateTime){track(events:$e,sentAt:$s)"
    "{eventId duplicate sessionId newSession userId}}"
)
EVENTS = (
    "query($s:Int!,$v:String!,$a:String){events(shopId:$s,visitorId:$v,first:500,after:$a)"
    "{nodes{eventId} pageInfo{hasNextPage endCursor}}}"
)
TRACKER_HEADERS = {"content-type": "text/plain;charset=UTF-8"}


# ---- traffic --------------------------------------------------------------------------------


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Visitor:
    """One browser: its journey through a shop, as the tracker reports it."""

    CATEGORIES = [f"cat-{i}" for i in range(12)]
    SECTIONS = ["home", "about", "delivery", "sale", "blog", "contacts"]
    CUSTOM = ["newsletter_signup", "video_play", "search", "wishlist_add", "share"]

    def __init__(self, visitor_id: str, rng: random.Random) -> None:
        self.visitor_id = visitor_id
        self.rng = rng
        self.started = False
        self.user_id: str | None = None
        self.cart: list[tuple[str, str]] = []
        self.orders = 0

    def _product(self) -> tuple[str, str]:
        category = self.rng.choice(self.CATEGORIES)
        return category, f"{category}-p{self.rng.randrange(200)}"

    def next_event(self) -> dict[str, Any]:
        rng = self.rng
        if not self.started:
            self.started = True
            return {"type": "VISIT"}
        roll = rng.random()
        if roll < 0.34:
            category, product = self._product()
            return {"type": "PRODUCT_VIEW", "categoryId": category, "productId": product}
        if roll < 0.48:
            return {"type": "CATEGORY_VIEW", "categoryId": rng.choice(self.CATEGORIES)}
        if roll < 0.58:
            return {"type": "SECTION_VIEW", "pageName": rng.choice(self.SECTIONS)}
        if roll < 0.68:
            category, product = self._product()
            self.cart.append((category, product))
            return {"type": "CART_ADD", "categoryId": category, "productId": product,
                    "quantity": rng.randint(1, 3), "price": round(rng.uniform(1, 500), 2)}
        if roll < 0.72 and self.cart:
            _, product = self.cart.pop(rng.randrange(len(self.cart)))
            return {"type": "CART_REMOVE", "productId": product}
        if roll < 0.82:
            return {"type": "CUSTOM", "eventName": rng.choice(self.CUSTOM),
                    "properties": {"n": rng.randrange(1000), "tag": rng.choice("abc")}}
        if roll < 0.85 and self.user_id is None:
            self.user_id = f"user-{self.visitor_id}"
            kind = "LOGIN" if rng.random() < 0.7 else "REGISTRATION"
            return {"type": kind, "userId": self.user_id}
        if roll < 0.88 and self.cart:
            self.cart = []
            self.orders += 1
            return {"type": "CHECKOUT", "orderId": f"order-{self.visitor_id}-{self.orders}"}
        if roll < 0.89:
            self.cart = []
            return {"type": "CART_CLEAR"}
        if roll < 0.91:
            return {"type": "VISIT"}
        category, product = self._product()
        return {"type": "PRODUCT_VIEW", "categoryId": category, "productId": product}

    def batch(self, size: int, now: datetime) -> list[dict[str, Any]]:
        """`size` events that happened over the last seconds, oldest first."""
        events = []
        for i in range(size):
            event = self.next_event()
            at = now - timedelta(milliseconds=(size - i) * self.rng.randint(50, 400))
            event["context"] = {
                "shopId": SHOP_ID, "visitorId": self.visitor_id, "eventId": uuid.uuid4().hex,
                "occurredAt": _iso(at), "url": f"https://shop.example/{event['type'].lower()}",
                "referrer": "https://search.example/" if not events else None,
            }
            events.append(event)
        return events


# ---- one client process ---------------------------------------------------------------------


@dataclass
class ClientResult:
    sent_events: int = 0
    requests: int = 0
    acked: dict[str, list[str]] = field(default_factory=dict)  # visitor -> acknowledged ids
    duplicates: int = 0
    http_errors: dict[str, int] = field(default_factory=dict)  # status -> count
    graphql_errors: dict[str, int] = field(default_factory=dict)  # code -> count
    transport_errors: dict[str, int] = field(default_factory=dict)  # exception -> count
    unfinished: int = 0
    latency: list[float] = field(default_factory=list)  # from the scheduled time, s
    service: list[float] = field(default_factory=list)  # from the actual send, s
    started: float = 0.0  # wall clock of the schedule's start
    finished: float = 0.0  # wall clock of the last answer


async def _client(index: int, url: str, visitor_ids: list[str], rate: float, seconds: float,
                  batch: int, seed: int, go: Any) -> ClientResult:
    result = ClientResult()
    rng = random.Random(seed * 1000 + index)
    visitors = [Visitor(v, random.Random(f"{seed}:{v}")) for v in visitor_ids]
    locks = {v.visitor_id: asyncio.Lock() for v in visitors}
    errors_http: Counter[str] = Counter()
    errors_gql: Counter[str] = Counter()
    errors_transport: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=len(visitors) + 4,
                          max_keepalive_connections=len(visitors))
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as http:

        async def send(visitor: Visitor, size: int, scheduled: float) -> None:
            async with locks[visitor.visitor_id]:
                now = datetime.now(UTC)
                events = visitor.batch(size, now)
                body = json.dumps({"query": TRACK, "variables": {"e": events, "s": _iso(now)}})
                sent = time.monotonic()
                try:
                    response = await http.post("/graphql", content=body,
                                               headers=TRACKER_HEADERS)
                except httpx.HTTPError as error:
                    errors_transport[type(error).__name__] += 1
                    return
                finally:
                    done = time.monotonic()
                result.requests += 1
                result.latency.append(done - scheduled)
                result.service.append(done - sent)
                result.finished = time.time()
                if response.status_code != 200:
                    errors_http[str(response.status_code)] += 1
                try:
                    payload = response.json()
                except ValueError:
                    errors_gql["NOT_JSON"] += 1
                    return
                for error in payload.get("errors") or []:
                    errors_gql[str((error.get("extensions") or {}).get("code"))] += 1
                answers = ((payload.get("data") or {}).get("track")) or [None] * len(events)
                acked = result.acked.setdefault(visitor.visitor_id, [])
                for sent_event, answer in zip(events, answers, strict=False):
                    if answer is not None and answer.get("eventId") == \
                            sent_event["context"]["eventId"]:
                        acked.append(answer["eventId"])
                        result.duplicates += bool(answer.get("duplicate"))

        # Warm one connection, then wait for the others to be ready.
        with contextlib.suppress(httpx.HTTPError):
            await http.get("/healthz")
        await asyncio.to_thread(go.wait)
        start = time.monotonic()
        result.started = time.time()
        tasks: list[asyncio.Task[None]] = []
        next_at = start
        turn = 0
        while next_at < start + seconds:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            visitor = visitors[turn % len(visitors)]
            turn += 1
            size = max(1, batch + rng.randint(-2, 2)) if batch > 2 else batch
            result.sent_events += size
            tasks.append(asyncio.create_task(send(visitor, size, next_at)))
            next_at += size / rate
        # Let the last requests finish; what is still waiting after a while counts as unfinished.
        done, pending = await asyncio.wait(tasks, timeout=max(60.0, seconds))
        for task in pending:
            task.cancel()
        result.unfinished = len(pending)
        for task in done:
            if task.exception() is not None:
                errors_transport[type(task.exception()).__name__] += 1
    result.http_errors = dict(errors_http)
    result.graphql_errors = dict(errors_gql)
    result.transport_errors = dict(errors_transport)
    return result


def _client_process(index: int, url: str, visitor_ids: list[str], rate: float, seconds: float,
                    batch: int, seed: int, ready: Any, go: Any, results: Any) -> None:
    ready.put(index)
    try:
        outcome = asyncio.run(_client(index, url, visitor_ids, rate, seconds, batch, seed, go))
        results.put((index, asdict(outcome)))
    except BaseException as error:  # the parent reports it; never hang it
        results.put((index, {"crash": f"{type(error).__name__}: {error}"}))


# ---- the server ------------------------------------------------------------------------------


def server_env(admin_key: str = ADMIN_KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({
        "TRACKER_MONGODB_URL": "mongomock://",
        "TRACKER_REDIS_URL": "memory://",
        "TRACKER_ADMIN_KEY": admin_key,
        "TRACKER_SECRET": "soak-secret",
        "TRACKER_DEMO_SHOP": "1",
        "PYTHONUNBUFFERED": "1",
    })
    for name in ("IP", "VISITOR", "KEY"):
        env[f"TRACKER_RATE_PER_{name}"] = LIFTED
        env[f"TRACKER_BURST_PER_{name}"] = LIFTED
    return env


@contextlib.contextmanager
def running_server(log_path: Path, port: int | None = None) -> Iterator[tuple[str, int]]:
    """`python -m app` on a free port; yields its base URL and process id."""
    port = port or free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            cwd=ROOT, env=server_env(), stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {log_path.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log_path.read_text()}")
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# ---- counting ------------------------------------------------------------------------------


def stored_ids(url: str, admin_key: str, visitor_id: str) -> list[str]:
    """Every stored event id of a visitor, paged out with the admin key."""
    ids: list[str] = []
    after = None
    with httpx.Client(base_url=url, timeout=60.0,
                      headers={"authorization": f"Bearer {admin_key}"}) as http:
        while True:
            body = http.post("/graphql", json={"query": EVENTS, "variables": {
                "s": SHOP_ID, "v": visitor_id, "a": after}}).json()
            if body.get("errors"):
                raise RuntimeError(f"counting failed: {body['errors']}")
            page = body["data"]["events"]
            ids.extend(n["eventId"] for n in page["nodes"])
            if not page["pageInfo"]["hasNextPage"]:
                return ids
            after = page["pageInfo"]["endCursor"]


# ---- the run -------------------------------------------------------------------------------


@dataclass
class Summary:
    rate_target: float
    seconds: float
    clients: int
    visitors: int
    sent: int
    requests: int
    acknowledged: int
    stored: int
    missing: int  # acknowledged but not stored
    unacknowledged_stored: int  # stored, though the answer said otherwise or never came
    duplicates: int
    achieved_rate: float  # acknowledged events a second, from start to last answer
    http_errors: dict[str, int]
    graphql_errors: dict[str, int]
    transport_errors: dict[str, int]
    unfinished: int
    latency_p50_ms: float
    latency_p99_ms: float
    service_p50_ms: float
    service_p99_ms: float
    server_cpu: float | None  # share of one core the server used during the run
    server_tracebacks: int

    @property
    def errors(self) -> int:
        return (sum(self.http_errors.values()) + sum(self.graphql_errors.values())
                + sum(self.transport_errors.values()) + self.unfinished)

    @property
    def ok(self) -> bool:
        return (self.errors == 0 and self.missing == 0 and self.unacknowledged_stored == 0
                and self.stored == self.acknowledged == self.sent)

    def text(self) -> str:
        def codes(d: dict[str, int]) -> str:
            return ", ".join(f"{k}: {v}" for k, v in sorted(d.items())) or "none"

        cpu = f"{self.server_cpu:.0%} of a core" if self.server_cpu is not None else "n/a"
        return "\n".join([
            f"soak: {self.seconds:g} s, {self.clients} clients, {self.visitors} visitors",
            f"  rate target     {self.rate_target:,.0f} events/s",
            f"  achieved        {self.achieved_rate:,.0f} events/s (acknowledged)",
            f"  sent            {self.sent:,} events in {self.requests:,} requests",
            f"  acknowledged    {self.acknowledged:,}",
            f"  stored          {self.stored:,}  (missing {self.missing}, stored unacknowledged "
            f"{self.unacknowledged_stored}, duplicates {self.duplicates})",
            f"  errors          {self.errors}  (HTTP: {codes(self.http_errors)}; GraphQL: "
            f"{codes(self.graphql_errors)}; transport: {codes(self.transport_errors)}; "
            f"unfinished: {self.unfinished})",
            f"  latency         p50 {self.latency_p50_ms:.1f} ms, p99 {self.latency_p99_ms:.1f} ms "
            f"(from schedule); service p50 {self.service_p50_ms:.1f} ms, "
            f"p99 {self.service_p99_ms:.1f} ms",
            f"  server          CPU {cpu}, tracebacks in log: {self.server_tracebacks}",
            f"  result          {'OK' if self.ok else 'FAILED'}: stored == acknowledged: "
            f"{self.stored == self.acknowledged}, errors: {self.errors}",
        ])


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def soak(rate: float, seconds: float, clients: int = 4, visitors: int = 100, batch: int = 10,
         seed: int = 1, url: str | None = None, admin_key: str = ADMIN_KEY,
         log_path: Path | None = None, profile: Path | None = None) -> Summary:
    """Run the soak; start a server unless `url` names one.

    With `profile`, py-spy samples the started server while the traffic runs and
    writes a flame graph (`.svg`) or collapsed stacks (any other suffix) there.
    """
    if url is not None:
        return _soak(url, None, rate, seconds, clients, visitors, batch, seed, admin_key, None,
                     None)
    log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"soak-{os.getpid()}.log"
    with running_server(log_path) as (base, pid):
        return _soak(base, pid, rate, seconds, clients, visitors, batch, seed, admin_key,
                     log_path, profile)


def _profiler(pid: int | None, seconds: float, path: Path | None) -> subprocess.Popen[bytes] | None:
    if pid is None or path is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    fmt = "flamegraph" if path.suffix == ".svg" else "raw"
    return subprocess.Popen(
        [spy, "record", "-p", str(pid), "-d", str(int(seconds)),
         "-f", fmt, "-o", str(path), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _soak(url: str, pid: int | None, rate: float, seconds: float, clients: int, visitors: int,
          batch: int, seed: int, admin_key: str, log_path: Path | None,
          profile: Path | None) -> Summary:
    clients = max(1, min(clients, visitors))
    run = uuid.uuid4().hex[:6]
    names = [f"soak-{run}-{i:04d}" for i in range(visitors)]
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_client_process, daemon=True, args=(
            i, url, names[i::clients], rate / clients, seconds, batch, seed, ready, go, results))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    cpu_before = _cpu_seconds(pid)
    wall_before = time.monotonic()
    profiler = _profiler(pid, seconds, profile)
    go.set()
    outcomes: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + seconds + max(60.0, seconds) + 120
    while len(outcomes) < clients:
        index, outcome = results.get(timeout=max(1.0, deadline - time.monotonic()))
        outcomes[index] = outcome
    cpu_after = _cpu_seconds(pid)
    wall = time.monotonic() - wall_before
    for p in procs:
        p.join(timeout=30)
    if profiler is not None:
        profiler.wait(timeout=120)
    crashes = [o["crash"] for o in outcomes.values() if "crash" in o]
    if crashes:
        raise RuntimeError(f"client crashed: {crashes}")

    parts = [ClientResult(**o) for o in outcomes.values()]
    acked = {v: ids for part in parts for v, ids in part.acked.items()}
    stored = missing = extra = 0
    for visitor_id in names:
        found = set(stored_ids(url, admin_key, visitor_id))
        mine = set(acked.get(visitor_id, []))
        stored += len(found & mine)
        missing += len(mine - found)
        extra += len(found - mine)

    def merged(name: str) -> dict[str, int]:
        total: Counter[str] = Counter()
        for part in parts:
            total.update(getattr(part, name))
        return dict(total)

    acknowledged = sum(len(ids) for ids in acked.values())
    started = min(p.started for p in parts)
    finished = max([p.finished for p in parts] + [started + seconds])
    latency = [x for p in parts for x in p.latency]
    service = [x for p in parts for x in p.service]
    tracebacks = 0
    if log_path is not None and log_path.exists():
        tracebacks = log_path.read_text(errors="replace").count("Traceback")
    return Summary(
        rate_target=rate, seconds=seconds, clients=clients, visitors=visitors,
        sent=sum(p.sent_events for p in parts), requests=sum(p.requests for p in parts),
        acknowledged=acknowledged, stored=stored, missing=missing, unacknowledged_stored=extra,
        duplicates=sum(p.duplicates for p in parts),
        achieved_rate=acknowledged / max(finished - started, 1e-9),
        http_errors=merged("http_errors"), graphql_errors=merged("graphql_errors"),
        transport_errors=merged("transport_errors"),
        unfinished=sum(p.unfinished for p in parts),
        latency_p50_ms=_percentile(latency, 0.50), latency_p99_ms=_percentile(latency, 0.99),
        service_p50_ms=_percentile(service, 0.50), service_p99_ms=_percentile(service, 0.99),
        server_cpu=(cpu_after - cpu_before) / wall
        if cpu_before is not None and cpu_after is not None else None,
        server_tracebacks=tracebacks,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000, help="events a second, in total")
    parser.add_argument("--seconds", type=float, default=60, help="how long to send")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--visitors", type=int, default=100, help="visitors, shared by clients")
    parser.add_argument("--batch", type=int, default=10, help="events a request (about)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="a running server's base URL (else one is started)")
    parser.add_argument("--admin-key", default=ADMIN_KEY, help="its admin key, with --url")
    parser.add_argument("--log", type=Path, help="where the started server's log goes")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON too")
    parser.add_argument("--profile", type=Path,
                        help="py-spy the started server during the run into this file "
                             "(.svg: flame graph, else collapsed stacks)")
    args = parser.parse_args(argv)
    summary = soak(args.rate, args.seconds, args.clients, args.visitors, args.batch, args.seed,
                   url=args.url, admin_key=args.admin_key, log_path=args.log,
                   profile=args.profile)
    print(summary.text())
    if args.json:
        print(json.dumps({**asdict(summary), "errors": summary.errors, "ok": summary.ok}))
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
