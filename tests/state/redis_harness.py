"""Helpers for the shared-state tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from ports import free_port

SHARED_URL = os.environ.get("PF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Redis is required under CI=true: {why}")
    pytest.skip(f"needs a real Redis ({why}); start redis-server on 127.0.0.1:6379 "
                "or set PF_TEST_REDIS_URL")



def binary(name: str) -> str:
    """The path of a Redis binary, or skip (fail under CI=true) without it."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                   else None)
    if found is None:
        unavailable(f"no {name} binary (Debian: apt-get install redis-server redis-tools "
                    "redis-sentinel)")
    assert found is not None
    return found


def wait_until(what: str, check: Callable[[], object], timeout: float = 10.0,
               proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `check` (Redis errors count as not yet) until it is true, or raise naming `what`
    (at once if `proc` exited)."""
    end = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        try:
            if check():
                return
        except redis.RedisError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s (last error: {last})")


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
            wait_until(f"redis-server on port {self.port}", client.ping, proc=self.proc)
        finally:
            client.close()

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
            wait_until(f"redis-sentinel on port {self.port}",
                       lambda: client.sentinel_get_master_addr_by_name(self.SERVICE),
                       proc=self.proc)
        except RuntimeError:
            self.stop()
            raise
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class CuttableLink:
    """A TCP relay to a Redis port that the test can cut (open connections dropped, new ones
    closed at once) and restore: a network blip between one replica and Redis. `delay`
    holds back every chunk that way, in both directions: a slow Redis."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.is_cut = False
        self.delay = 0.0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                if self.delay:
                    await asyncio.sleep(self.delay)
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(dst)
            dst.close()

    def cut(self) -> None:
        self.is_cut = True
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def restore(self) -> None:
        self.is_cut = False

    async def aclose(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class DedicatedCluster:
    """A Redis Cluster of our own: `size` redis-server masters (no replicas) on spare ports,
    joined by `redis-cli --cluster create`. Each node also gets a spare cluster-bus port
    (`--cluster-port`, Redis 7+), since port + 10000 may not be free or even valid. The test
    may kill it and start it again: the nodes keep their slots (nodes-<port>.conf), not
    their data."""

    def __init__(self, server: str, cli: str, workdir: Path, size: int = 3) -> None:
        self.server = server
        self.cli = cli
        self.workdir = workdir
        ports: list[int] = []
        while len(ports) < 2 * size:
            port = free_port()
            if port not in ports:
                ports.append(port)
        self.ports, self.bus_ports = ports[:size], ports[size:]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """A `redis+cluster://` URL listing every node as a seed."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    @property
    def node_urls(self) -> list[str]:
        """One plain `redis://` URL per master, to inspect what each holds."""
        return [f"redis://127.0.0.1:{p}/0" for p in self.ports]

    def start(self) -> None:
        """Start every node that is not running; create the cluster the first time; wait
        until every node reports `cluster_state:ok`."""
        created = all(self._conf(p).exists() for p in self.ports)
        for port, bus in zip(self.ports, self.bus_ports, strict=True):
            proc = self.procs.get(port)
            if proc is None or proc.poll() is not None:
                self.procs[port] = subprocess.Popen(
                    [self.server, "--port", str(port), "--cluster-port", str(bus),
                     "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                     "--cluster-config-file", str(self._conf(port)),
                     "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no",
                     "--dir", str(self.workdir)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for url in self.node_urls:
            self._wait(url, lambda c: bool(c.ping()), "did not start")
        if not created:
            nodes = [f"127.0.0.1:{p}" for p in self.ports]
            done = subprocess.run([self.cli, "--cluster", "create", *nodes,
                                   "--cluster-replicas", "0", "--cluster-yes"],
                                  capture_output=True, timeout=60, check=False)
            if done.returncode != 0:
                self.kill()
                raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout!r} "
                                   f"{done.stderr!r}")
        for url in self.node_urls:
            self._wait(url, lambda c: c.cluster("info")["cluster_state"] == "ok",
                       "did not reach cluster_state:ok")

    @property
    def running(self) -> bool:
        return len(self.procs) == len(self.ports) and all(
            p.poll() is None for p in self.procs.values())

    def keys(self, pattern: str) -> dict[int, list[bytes]]:
        """The keys matching `pattern` on each master that holds any, by port."""
        found: dict[int, list[bytes]] = {}
        for port, url in zip(self.ports, self.node_urls, strict=True):
            client = redis.Redis.from_url(url, socket_timeout=2)
            try:
                keys = list(client.scan_iter(match=pattern, count=1000))
            finally:
                client.close()
            if keys:
                found[port] = keys
        return found

    def kill(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.procs = {}

    def _conf(self, port: int) -> Path:
        return self.workdir / f"nodes-{port}.conf"

    def _wait(self, url: str, ready: Callable[[redis.Redis], bool], what: str) -> None:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            wait_until(f"cluster node {url} {what}", lambda: ready(client), timeout=30.0)
        except RuntimeError:
            self.kill()
            raise
        finally:
            client.close()
