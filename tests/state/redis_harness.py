"""Helpers for the shared-state tests (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis

SHARED_URL = os.environ.get("PF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Redis is required under CI=true: {why}")
    pytest.skip(f"needs a real Redis ({why}); start redis-server on 127.0.0.1:6379 "
                "or set PF_TEST_REDIS_URL")



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


class DedicatedSentinel:
    """A redis-sentinel of our own, monitoring `mymaster` at 127.0.0.1:`redis_port`."""

    SERVICE = "mymaster"

    def __init__(self, binary: str, workdir: Path, redis_port: int) -> None:
        self.binary = binary
        self.port = free_port()
        self.config = workdir / "sentinel.conf"   # sentinel rewrites it: must be writable
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor {self.SERVICE} 127.0.0.1 {redis_port} 1\n"
            f"sentinel down-after-milliseconds {self.SERVICE} 1000\n")
        self.url = f"redis+sentinel://127.0.0.1:{self.port}/{self.SERVICE}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5,
                             socket_connect_timeout=0.5)
        try:
            for _ in range(200):
                if self.proc.poll() is not None:
                    break
                try:
                    if client.sentinel_get_master_addr_by_name(self.SERVICE):
                        return
                except redis.RedisError:
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"redis-sentinel on port {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
