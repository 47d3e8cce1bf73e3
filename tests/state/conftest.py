"""Real Redis for the shared-state tests: the shared server on 127.0.0.1:6379, or a
dedicated redis-server on a spare port for tests that kill it.

Unreachable Redis skips these tests with the reason, except under CI=true where it fails.
Every test gets its own key prefix, and afterwards no key under it may lack a TTL.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

SHARED_URL = os.environ.get("PF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Redis is required under CI=true: {why}")
    pytest.skip(f"needs a real Redis ({why}); start redis-server on 127.0.0.1:6379 "
                "or set PF_TEST_REDIS_URL")


@pytest.fixture
def redis_url() -> str:
    try:
        client = redis.Redis.from_url(SHARED_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        _unavailable(f"{SHARED_URL} unreachable: {exc}")
    return SHARED_URL


def assert_every_key_has_a_ttl(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        forever = [k for k in keys if client.pttl(k) == -1]
        if keys:
            client.delete(*keys)
    finally:
        client.close()
    assert not forever, f"keys without a TTL: {forever}"


def new_prefix() -> str:
    return f"pf-test:{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix on the shared Redis; checks TTLs of everything left under it."""
    p = new_prefix()
    yield p
    assert_every_key_has_a_ttl(redis_url, p)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DedicatedRedis:
    """A redis-server of our own, which the test may kill and restart on the same port."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            for _ in range(200):
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def dedicated_redis(tmp_path: Path) -> Iterator[DedicatedRedis]:
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server"
                                              if Path("/usr/bin/redis-server").exists() else None)
    if binary is None:
        _unavailable("no redis-server binary to start a dedicated server")
    server = DedicatedRedis(binary, tmp_path)
    server.start()
    yield server
    server.kill()
