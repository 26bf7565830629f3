"""Which address the per-client limit counts, behind proxies (issue 12, item 7).

A real server process (`python -m app`, as deployed); the proxies are other
loopback addresses (127.0.0.0/8), so requests really come from them.
"""

from __future__ import annotations

import httpx

from app.platform import Platform
from app.server.asgi import create_app
from tests.support.api import running
from tests.support.servers import ServerProcess

VIEW = ('mutation($c: TrackContext!) { viewCategory(context: $c, categoryId: "c1") '
        "{ eventId } }")


class Client:
    """Sends tracked views from one local address, with an optional X-Forwarded-For."""

    def __init__(self, server: ServerProcess, address: str) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=10,
                                 transport=httpx.HTTPTransport(local_address=address))
        self.sent = 0

    def view(self, forwarded_for: str | None = None) -> int:
        self.sent += 1
        headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
        answer = self.http.post("/graphql", headers=headers, json={"query": VIEW, "variables": {
            "c": {"shopId": 1, "visitorId": f"v{id(self)}-{self.sent}"}}})
        return answer.status_code


def test_the_client_is_the_rightmost_address_no_trusted_proxy_added() -> None:
    env = {"TRACKER_TRUSTED_PROXIES": "127.0.0.2, 127.0.0.3/32",
           "TRACKER_RATE_PER_IP": "0.001", "TRACKER_BURST_PER_IP": "2"}
    with ServerProcess(**env) as server:
        proxy, inner_proxy = Client(server, "127.0.0.2"), Client(server, "127.0.0.1")
        # Through the trusted proxy: the address it saw (rightmost); what the client wrote
        # to the left of it is not believed.
        first = [proxy.view("6.6.6.6, 10.0.0.1") for _ in range(3)]
        other = proxy.view("10.0.0.1, 10.0.0.2")
        # Two trusted proxies in a row (127.0.0.3 forwarded to 127.0.0.2): the client
        # is the address before them.
        chained = [proxy.view("10.0.0.3, 127.0.0.3") for _ in range(3)]
        # Not from a trusted proxy: the header is ignored, whatever it says.
        direct = [inner_proxy.view(f"10.0.1.{i}") for i in range(3)]
    assert first == [200, 200, 429]
    assert other == 200
    assert chained == [200, 200, 429]
    assert direct == [200, 200, 429]


def test_nothing_is_trusted_with_none() -> None:
    env = {"TRACKER_TRUSTED_PROXIES": "none", "TRACKER_RATE_PER_IP": "0.001",
           "TRACKER_BURST_PER_IP": "2"}
    with ServerProcess(**env) as server:
        local = Client(server, "127.0.0.1")
        statuses = [local.view(f"10.0.2.{i}") for i in range(3)]
    assert statuses == [200, 200, 429]


async def test_a_made_up_first_entry_from_the_client_is_never_believed(
    platform: Platform
) -> None:
    """The client writes whatever it likes to the left of what the trusted proxy appends:
    a new made-up first entry on every request must not buy a fresh per-address limit."""
    settings = platform.settings.with_(trusted_proxies="127.0.0.2", rate_tracker_per_ip=0.001,
                                       burst_tracker_per_ip=2)
    platform.limiter.settings = settings
    await platform.shops.create("Shop", shop_id=1)
    async with running(create_app(settings, platform=platform, run_workers=False)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.2", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            statuses = []
            for n, client in enumerate(["10.0.0.1"] * 4 + ["10.0.0.9"]):
                answer = await http.post("/graphql", headers={
                    "x-forwarded-for": f"6.6.6.{n}, {client}"}, json={
                    "query": VIEW, "variables": {"c": {"shopId": 1, "visitorId": f"v{n}"}}})
                statuses.append(answer.status_code)
    # The first four are 10.0.0.1's; the fifth, another client's behind the same proxy.
    assert statuses == [200, 200, 429, 429, 200]
