"""Operations that need the admin key: a shop's key gets FORBIDDEN naming it, and nothing changes.

`ADMIN_ONLY` holds one call per admin-only operation and what must stay unchanged when
a shop key tries it. Which operations are admin-only is read from the resolvers (every
one that asks the context for the admin), so an operation made admin-only later fails
`test_every_admin_only_operation_has_a_test` until it is added here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

import resolvers
from tests.support.api import ADMIN_KEY, Api


@dataclass(frozen=True)
class AdminCall:
    query: str
    state: Callable[[Api], Awaitable[Any]]  # what a refused call must leave as it was


async def shops_known(api: Api) -> Any:
    data = await api.admin("{ s1: shop(shopId: 1) { shopId name } "
                           "s9: shop(shopId: 9) { shopId name } }")
    return data


ADMIN_ONLY: dict[str, AdminCall] = {
    "createShop": AdminCall('mutation { createShop(name: "New", shopId: 9) { apiKey } }',
                            shops_known),
}

# How a resolver asks for the admin (app/access/auth.py, resolvers/context.py).
ASKS_FOR_ADMIN = re.compile(r"\.admin\(\)|require_admin\(")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def admin_only_resolvers() -> set[str]:
    """GraphQL names of the resolver functions that ask for the admin key."""
    found = set()
    for module_info in pkgutil.walk_packages(resolvers.__path__, f"{resolvers.__name__}."):
        module = importlib.import_module(module_info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and \
                    ASKS_FOR_ADMIN.search(inspect.getsource(function)):
                found.add(camel(name))
    return found


async def root_fields(api: Api) -> set[str]:
    data = await api.admin("{ __schema { queryType { fields { name } } "
                           "mutationType { fields { name } } "
                           "subscriptionType { fields { name } } } }")
    return {f["name"] for root in data["__schema"].values() if root for f in root["fields"]}


async def test_every_admin_only_operation_has_a_test(api: Api) -> None:
    found = admin_only_resolvers()
    assert "createShop" in found  # the scan works: the one admin-only operation known
    assert found <= await root_fields(api), "a resolver's name is not its field's name"
    missing = found - set(ADMIN_ONLY)
    assert not missing, f"admin-only operations without a test in ADMIN_ONLY: {missing}"


@pytest.mark.parametrize("name", list(ADMIN_ONLY))
async def test_a_shop_key_is_forbidden_an_admin_only_operation_and_nothing_changes(
    api: Api, shop: dict[str, Any], name: str
) -> None:
    call = ADMIN_ONLY[name]
    before = await call.state(api)
    body = await api.post(call.query, key=shop["key"])
    assert body.get("errors"), f"{name} went through with a shop key: {body}"
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "permission: admin" in error["message"], error["message"]
    assert error["path"] == [name]
    assert body["data"] is None
    assert await call.state(api) == before

    # The call itself is sound: with the admin key it goes through.
    admitted = await api.post(call.query, key=ADMIN_KEY)
    assert not admitted.get("errors"), admitted
    assert await call.state(api) != before
