"""Webhook sending is fair across shops (issue 22, items 4 and 6).

The tests put a noisy shop and another side by side and assert that the other shop is
served while the noise goes on (not a timed assertion; bench/fair.py measures it).
"""

from __future__ import annotations

from tests.support.live import eventually, open_shop, serving, track
from tests.support.webhook_helpers import FAST, add_endpoint, deliveries
from tests.support.webhook_receiver import HANG, Receiver


async def test_a_shop_whose_endpoints_hang_does_not_hold_up_another_shops_webhook() -> None:
    # Four slots, two per endpoint: shop 1's four hanging endpoints could take them all.
    settings = {**FAST, "webhook_timeout_seconds": 60.0, "webhook_concurrency": 4,
                "webhook_concurrency_per_endpoint": 2, "webhook_concurrency_per_shop": 2}
    async with Receiver() as receiver, serving(**settings) as server:
        noisy, other = await open_shop(server, 1), await open_shop(server, 2)
        hanging = [f"hang{i}" for i in range(4)]
        for name in hanging:
            await add_endpoint(server, noisy, receiver, name, [HANG])
        await add_endpoint(server, other, receiver, "other", shop_id=2)
        for i in range(5):
            await track(server, "CUSTOM", visitor=f"v{i}", eventName="promo")
        await eventually(lambda: sum(len(receiver.of(n)) for n in hanging) >= 2,
                         "shop 1's attempts hang")
        await track(server, "CUSTOM", visitor="w", shop_id=2, eventName="promo")
        await eventually(lambda: receiver.of("other"), "shop 2's webhook arrived")
        # ...while the noise goes on: no attempt of shop 1 has ended (none can before 60 s).
        logged = await deliveries(server, noisy)
    assert len(logged) == 5 * 4
    assert all(d["status"] == "PENDING" and d["attempts"] == 0 for d in logged)
