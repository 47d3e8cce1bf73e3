"""Real Redis for the shared-state tests: the shared server on 127.0.0.1:6379, a dedicated
redis-server on a spare port for tests that kill it, a Sentinel, or a 3-master Cluster
(`shared_redis` runs a test on both the single server and the cluster).

Unreachable Redis skips these tests with the reason, except under CI=true where it fails.
Every test gets its own key prefix, and afterwards no key under it may lack a TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_harness import (
    SHARED_URL,
    DedicatedCluster,
    DedicatedRedis,
    DedicatedSentinel,
    assert_every_key_has_a_ttl,
    binary,
    new_prefix,
    unavailable,
)

from provider_fallback.state._redis_url import effective_prefix


@pytest.fixture
def redis_url() -> str:
    try:
        client = redis.Redis.from_url(SHARED_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        unavailable(f"{SHARED_URL} unreachable: {exc}")
    return SHARED_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix on the shared Redis; checks TTLs of everything left under it."""
    p = new_prefix()
    yield p
    assert_every_key_has_a_ttl(redis_url, p)


@pytest.fixture
def dedicated_redis(tmp_path: Path) -> Iterator[DedicatedRedis]:
    server = DedicatedRedis(binary("redis-server"), tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def sentinel(dedicated_redis: DedicatedRedis, tmp_path: Path) -> Iterator[DedicatedSentinel]:
    """A redis-sentinel watching the dedicated redis-server as `mymaster`."""
    server = DedicatedSentinel(binary("redis-sentinel"), tmp_path, dedicated_redis.port)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def _cluster_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DedicatedCluster]:
    server, cli = binary("redis-server"), binary("redis-cli")
    cluster = DedicatedCluster(server, cli, tmp_path_factory.mktemp("cluster"))
    cluster.start()
    yield cluster
    cluster.kill()


@pytest.fixture
def redis_cluster(_cluster_nodes: DedicatedCluster) -> DedicatedCluster:
    """A 3-master Redis Cluster of dedicated redis-servers, shared by a test module (made
    once: creating one takes seconds); a node a test killed is started again before the next."""
    if not _cluster_nodes.running:
        _cluster_nodes.start()
    return _cluster_nodes


@pytest.fixture
def cluster_prefix(redis_cluster: DedicatedCluster) -> Iterator[str]:
    """A unique prefix; afterwards its keys must sit on one master (one slot), each with a
    TTL (checked on every master)."""
    p = new_prefix()
    yield p
    tagged = effective_prefix(redis_cluster.url, p)
    found = redis_cluster.keys(f"{tagged}*")
    assert len(found) <= 1, f"keys under {tagged} spread over masters: {found}"
    for url in redis_cluster.node_urls:
        assert_every_key_has_a_ttl(url, tagged)


@pytest.fixture(params=["redis", "cluster"])
def shared_redis(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(url, prefix) of the shared state: one Redis server, then a Redis Cluster."""
    if request.param == "redis":
        return request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")
    cluster = request.getfixturevalue("redis_cluster")
    return cluster.url, request.getfixturevalue("cluster_prefix")


@pytest.fixture(params=["redis", "cluster"])
def killable_redis(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """(server, prefix) for a test that kills Redis and starts it again (`server.kill()`,
    `server.start()`, `server.url`): a dedicated redis-server, then a whole Cluster.
    Afterwards no key under the prefix may lack a TTL."""
    if request.param == "cluster":
        yield request.getfixturevalue("redis_cluster"), request.getfixturevalue("cluster_prefix")
        return
    server = request.getfixturevalue("dedicated_redis")
    p = new_prefix()
    yield server, p
    assert_every_key_has_a_ttl(server.url, p)
