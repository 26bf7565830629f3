"""Fuzzing with schemathesis (GraphQL mode) against a live server.

A real `python -m app` runs in a subprocess on a free port (embedded store,
demo shop 1, rate limits raised out of the way). Schemathesis reads the schema
by introspection and hypothesis generates documents for every query and
mutation: the tracker mutations are sent without a key, `createShop` with the
admin key, and every other operation with a shop's key. Most generated
`shopId`s are swapped for shops that exist (and, for the tracker, most
`visitorId`s for valid ones), so that cases get past the permission and shop
checks into the resolvers instead of all ending at FORBIDDEN or NOT_FOUND.

Every answer must be: below 500, free of Python tracebacks, JSON, and every
GraphQL error in it must carry an `extensions.code` of the contract; a
generated input must never be an INTERNAL error (that is a bug, not a refusal).

The run is bounded and seeded: FUZZ_EXAMPLES positive cases per operation
(plus a quarter as many negative ones, which break the schema on purpose),
seed FUZZ_SEED; both can be changed through the environment.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import graphql
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from tests.support.servers import ServerProcess

ADMIN_KEY = "fuzz-admin-key"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "240"))
NEGATIVE_EXAMPLES = max(1, EXAMPLES // 4)
SEED = int(os.environ.get("FUZZ_SEED", "20260301"))
# A comma-separated list of operation names narrows a run (to reproduce one finding).
ONLY = {n.strip() for n in os.environ.get("FUZZ_OPERATIONS", "").split(",") if n.strip()}

CODES = {"BAD_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "RATE_LIMITED", "INTERNAL"}
TRACKER = {
    "startVisit", "viewProduct", "viewCategory", "viewSection", "login", "register",
    "addToCart", "removeFromCart", "clearCart", "completeCheckout", "trackEvent", "track",
}
ADMIN_ONLY = {"createShop"}
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "', "line ", ".py\"")
VISITORS = ["v1", "visitor_2", "V-3", "a" * 64]
LIMITS_ENV = {
    name: "100000"
    for name in (
        "TRACKER_RATE_PER_IP", "TRACKER_BURST_PER_IP", "TRACKER_RATE_PER_VISITOR",
        "TRACKER_BURST_PER_VISITOR", "TRACKER_RATE_PER_KEY", "TRACKER_BURST_PER_KEY",
    )
}


def _json_node(depth: int = 2) -> st.SearchStrategy[graphql.ValueNode]:
    """Literals a JSON scalar may hold: scalars, lists and objects of them."""
    leaves = st.one_of(
        st.just(nodes.Null),
        st.booleans().map(nodes.Boolean),
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        st.text(max_size=40).map(nodes.String),
    )
    if depth == 0:
        return leaves
    inner = _json_node(depth - 1)
    names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
    objects = st.dictionaries(names, inner, max_size=4).map(
        lambda d: nodes.Object([
            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v) for k, v in d.items()
        ])
    )
    return st.one_of(leaves, st.lists(inner, max_size=4).map(nodes.List), objects)


def _datetime_node() -> st.SearchStrategy[graphql.ValueNode]:
    """ISO-8601 times across the whole calendar, with and without offsets, and non-times."""
    offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
        lambda m: timezone(timedelta(minutes=m)))
    aware = st.builds(lambda d, tz: d.replace(tzinfo=tz), st.datetimes(), offsets)
    return st.one_of(
        st.datetimes().map(lambda d: d.isoformat() + "Z"),
        st.datetimes().map(datetime.isoformat),  # naive
        aware.map(datetime.isoformat),
        st.text(max_size=30),
    ).map(nodes.String)


schemathesis.graphql.scalar("JSON", _json_node())
schemathesis.graphql.scalar("DateTime", _datetime_node())


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    env = {**LIMITS_ENV, "TRACKER_ADMIN_KEY": ADMIN_KEY, "TRACKER_SECRET": "fuzz-secret",
           "TRACKER_MONGODB_URL": "mongomock://", "TRACKER_REDIS_URL": "memory://",
           "TRACKER_DEMO_SHOP": "1", "TRACKER_INTROSPECTION": "1", "PYTHONUNBUFFERED": "1"}
    with ServerProcess(**env) as process:
        base = process.url
        created = requests.post(
            f"{base}/graphql",
            json={"query": 'mutation { createShop(name: "Fuzz shop") { apiKey shop { shopId } } }'},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        ).json()["data"]["createShop"]
        yield {
            "base": base,
            "url": f"{base}/graphql",
            "shop_id": created["shop"]["shopId"],
            "shop_key": created["apiKey"],
            "process": process,
        }


@pytest.fixture(scope="module")
def schema(server: dict[str, Any]) -> Any:
    return schemathesis.graphql.from_url(server["url"], timeout=30)


# ---- checks -------------------------------------------------------------------------------


def no_server_error(ctx: Any, response: Any, case: Any) -> None:
    assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:2000]}"


def no_traceback(ctx: Any, response: Any, case: Any) -> None:
    text = response.text
    assert "Traceback" not in text and 'File "' not in text, f"traceback in body: {text[:2000]}"


def coded_errors(ctx: Any, response: Any, case: Any) -> None:
    try:
        body = json.loads(response.text)
    except ValueError:
        raise AssertionError(
            f"not JSON (HTTP {response.status_code}): {response.text[:500]}") from None
    assert isinstance(body, dict) and ("data" in body or "errors" in body), body
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code in CODES, f"error without a contract code: {error}"
        # A generated input is refused, never an internal failure of the server.
        assert code != "INTERNAL", f"internal error for a generated input: {error}"
    if response.status_code >= 400:
        assert body.get("errors"), f"HTTP {response.status_code} without errors: {body}"


CHECKS = [no_server_error, no_traceback, coded_errors]


# ---- generation ---------------------------------------------------------------------------


class _Rewrite(graphql.Visitor):
    """Point `shopId` arguments at a shop that exists, and `visitorId`s at valid ids."""

    def __init__(self, shop_id: int | None, visitor_id: str | None) -> None:
        super().__init__()
        self.shop_id = shop_id
        self.visitor_id = visitor_id

    def _value(self, name: str) -> graphql.ValueNode | None:
        if name == "shopId" and self.shop_id is not None:
            return graphql.IntValueNode(value=str(self.shop_id))
        if name == "visitorId" and self.visitor_id is not None:
            return graphql.StringValueNode(value=self.visitor_id)
        return None

    def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
        value = self._value(node.name.value)
        return None if value is None else graphql.ArgumentNode(name=node.name, value=value)

    def enter_object_field(self, node: graphql.ObjectFieldNode, *_: Any) -> Any:
        value = self._value(node.name.value)
        return None if value is None else graphql.ObjectFieldNode(name=node.name, value=value)


def _rewritten(case: Any, shop_id: int | None, visitor_id: str | None) -> Any:
    if isinstance(case.body, str) and (shop_id is not None or visitor_id is not None):
        try:
            document = graphql.parse(case.body)
        except graphql.GraphQLError:
            return case  # a deliberately broken document stays broken
        case.body = graphql.print_ast(graphql.visit(document, _Rewrite(shop_id, visitor_id)))
    return case


def _cases(operation: Any, mode: Any, shops: list[int]) -> st.SearchStrategy[Any]:
    return st.builds(
        _rewritten,
        operation.as_strategy(generation_mode=mode),
        st.one_of(st.none(), st.sampled_from(shops)),
        st.one_of(st.none(), st.sampled_from(VISITORS)),
    )


def _operations(schema: Any) -> list[tuple[str, str]]:
    found = []
    for root in ("Query", "Mutation"):
        for name in schema[root]:
            found.append((root, name))
    return found


def _key_for(root: str, name: str, server: dict[str, Any]) -> str | None:
    if root == "Mutation" and name in TRACKER:
        return None
    if root == "Mutation" and name in ADMIN_ONLY:
        return ADMIN_KEY
    return server["shop_key"]


def test_every_operation_is_fuzzed(schema: Any) -> None:
    names = {name for _, name in _operations(schema)}
    assert names >= TRACKER | ADMIN_ONLY
    assert {"events", "customers", "shop", "importEvents", "updateShopSettings"} <= names


def _fuzz(schema: Any, server: dict[str, Any], root: str, name: str) -> dict[str, int]:
    operation = schema[root][name]
    key = _key_for(root, name, server)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    shops = [1, server["shop_id"]] if key is None else [server["shop_id"]]
    session = requests.Session()
    counts = {"positive": 0, "negative": 0}

    def run(mode: Any, examples: int) -> None:
        @seed(SEED)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )
        @given(case=_cases(operation, mode, shops))
        def one(case: Any) -> None:
            response = case.call(base_url=server["url"], session=session, headers=headers,
                                 timeout=30)
            case.validate_response(response, checks=CHECKS, headers=headers)
            counts[mode.value] += 1

        one()

    run(schemathesis.GenerationMode.POSITIVE, EXAMPLES)
    run(schemathesis.GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
    return counts


def _describe(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup):
        return "\n".join(_describe(e) for e in error.exceptions) + "".join(
            getattr(error, "__notes__", []))
    return str(error) + "".join(getattr(error, "__notes__", []))


def test_fuzz_graphql_operations(schema: Any, server: dict[str, Any]) -> None:
    started = time.monotonic()
    failures: list[str] = []
    totals: dict[str, int] = {}
    for root, name in _operations(schema):
        if ONLY and name not in ONLY:
            continue
        try:
            counts = _fuzz(schema, server, root, name)
            totals[f"{root}.{name}"] = sum(counts.values())
        except (Exception, BaseExceptionGroup) as error:  # report every operation's failure
            failures.append(f"{root}.{name}: {type(error).__name__}: {_describe(error)}")
    elapsed = time.monotonic() - started
    print(f"\nfuzzed {len(totals)} operations, {sum(totals.values())} cases in {elapsed:.0f}s: "
          + ", ".join(f"{k}={v}" for k, v in totals.items()))
    log = server["process"].output
    assert not failures, "\n\n".join(failures) + "\n\nserver log:\n" + log[-5000:]
    assert "Traceback" not in log, log[-5000:]


# ---- hand-made hostile requests: what generation rarely reaches -----------------------------


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


EDGE = "0001-01-01T00:00:00+01:00"  # in range, but not once it is moved to UTC
HOSTILE_DOCUMENTS = [
    # a subscription over plain HTTP would run its resolver as a field
    ("subscription { triggers(shopId: 1) { triggerId } }", {}),
    # cursors this API never gave out
    *[(f"query($a: String) {{ {field}(shopId: 1, after: $a) {{ pageInfo {{ endCursor }} }} }}",
       {"a": cursor})
      for field in ("events", "sessions", "customers", "triggers")
      for cursor in (_cursor([{"t": EDGE}, "x"]), _cursor([[1, 2], {"$gt": ""}]),
                     _cursor([{"$where": "1"}, "x"]), _cursor({"a": 1}), _cursor([None, None]),
                     "%%%", "")],
    # client times at the edges of the calendar
    *[("mutation($e: [TrackInput!]!, $s: DateTime) { track(events: $e, sentAt: $s) { eventId } }",
       {"e": [{"type": "VISIT", "context": {"shopId": 1, "visitorId": "edge", "occurredAt": at,
                                            "sentAt": sent}}], "s": sent})
      for at in (EDGE, "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00Z", None)
      for sent in (EDGE, "9999-12-31T23:59:59Z", None)],
    ("mutation { importEvents(shopId: 1, events: [{type: VISIT, context: {shopId: 1, "
     f'visitorId: "edge", occurredAt: "{EDGE}"}}}}]) {{ eventId }} }}', {}),
    # JSON that is not JSON once stored, and keys Mongo treats specially
    ('mutation { trackEvent(context: {shopId: 1, visitorId: "j"}, eventName: "e", '
     "properties: {a: 1e400}) { eventId } }", {}),
    ('mutation($p: JSON) { trackEvent(context: {shopId: 1, visitorId: "j"}, eventName: "e", '
     "properties: $p) { eventId } }", {"p": {"$set": {"a": 1}, "a.b": {"$where": "1"}}}),
    ('mutation { addToCart(context: {shopId: 1, visitorId: "j"}, categoryId: "$c", '
     'productId: "a.b") { eventId } }', {}),
]
HOSTILE_BODIES = [
    (b"{", "application/json"), (b"[]", "application/json"), (b'{"query": 1}', "application/json"),
    (b'{"query": "{__typename}", "variables": []}', "application/json"),
    (b'{"query": "{__typename}", "operationName": 5}', "application/json"),
    (b'[{"query": "{__typename}"}]', "application/json"), (b"\xff\xfe", "text/plain"),
    (b'{"query": "{__typename}"}', "application/x-www-form-urlencoded"),
    (b'{"query": "{__typename}"}', "multipart/form-data; boundary=x"),
    (b'{"query": "{__typename}"}', ""),
    # JSON that is no object (strawberry would call .get() on it)
    (b"null", "application/json"), (b'"x"', "text/plain"), (b"1", "application/json"),
    (b"true", "text/plain"),
]


def _check_answer(response: requests.Response) -> None:
    no_server_error(None, response, None)
    no_traceback(None, response, None)
    coded_errors(None, response, None)


@pytest.mark.parametrize(("query", "variables"), HOSTILE_DOCUMENTS)
def test_hostile_documents(server: dict[str, Any], query: str, variables: dict[str, Any]) -> None:
    for key in (None, ADMIN_KEY):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = requests.post(server["url"], json={"query": query, "variables": variables},
                                 headers=headers, timeout=30)
        _check_answer(response)


@pytest.mark.parametrize(("body", "content_type"), HOSTILE_BODIES)
def test_hostile_bodies(server: dict[str, Any], body: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = requests.post(server["url"], data=body, headers=headers, timeout=30)
    _check_answer(response)
    assert response.status_code == 400 or response.json().get("errors"), response.text


def test_subscription_over_plain_http_is_bad_input(server: dict[str, Any]) -> None:
    response = requests.post(server["url"], headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                             json={"query": "subscription { triggers(shopId: 1) { triggerId } }"},
                             timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"
