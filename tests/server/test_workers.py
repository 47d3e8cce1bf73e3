"""`serve --workers N`: workers follow their supervisor, even when it is killed hard."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gateway_harness import eventually, sims_running, wait_serving
from ports import free_port

pytestmark = pytest.mark.skipif(sys.platform == "win32",
                                reason="Unix only: os.getppid never changes on Windows")


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return {int(p) for p in out.split()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:            # a zombie is not alive
        return f.read().split(")")[-1].split()[0] != "Z"


async def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path):
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc to find the workers")
    async with sims_running({"name": "p", "models": ["m"]}) as (p,):
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(yaml.safe_dump({
            "providers": [{"name": "p", "base_url": p.url}], "models": {"chat": ["p/m"]},
            "health": {"enabled": False}, "telemetry": {"enabled": False},
            "budget": {"data_dir": str(tmp_path)}}))
        port = free_port()
        sup = subprocess.Popen([sys.executable, "-m", "provider_fallback", "serve", "-c", str(cfg),
                                "--port", str(port), "--workers", "2", "--log-level", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workers: set[int] = set()
        try:
            await wait_serving(f"http://127.0.0.1:{port}", sup)

            def spawned() -> bool:
                workers.update(c for c in _children(sup.pid)
                               if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text())
                return len(workers) == 2
            await eventually(spawned, timeout=30)
            sup.send_signal(signal.SIGKILL)                 # no chance to stop its workers
            sup.wait()
            # killed right after spawning: a worker may still be starting (the race to cover)
            await eventually(lambda: not any(_alive(w) for w in workers), timeout=30)
        finally:
            for pid in [sup.pid, *workers]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass



def _backlog(port: int) -> int | None:
    """The listen queue length of `port` (`ss` shows it as Send-Q), if `ss` is there."""
    try:
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [r.split() for r in out.splitlines() if r.strip()]
    return int(rows[0][2]) if rows else None


async def test_a_worker_takes_one_connection_per_wake_up_of_the_shared_socket():
    """asyncio accepts up to the listen backlog each time the socket wakes the loop, so of
    workers sharing one socket the first awake took a whole burst (wrk's 32 connections all
    on one worker of two, bench/bench_workers.py): a worker now accepts one per loop
    iteration, and the kernel's queue keeps its length."""
    import asyncio

    import uvicorn

    from provider_fallback.server._workers import _SharedSocketServer

    loop = asyncio.get_running_loop()
    tick = [0]
    accepted_at: list[int] = []

    def ticker() -> None:            # counts loop iterations
        tick[0] += 1
        if len(accepted_at) < 5:
            loop.call_soon(ticker)

    class Counting(socket.socket):
        def accept(self):  # type: ignore[no-untyped-def]
            conn, addr = super().accept()
            accepted_at.append(tick[0])
            return conn, addr

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        pass

    sock = Counting(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", backlog=2048)
    config.load()
    server = _SharedSocketServer(config)
    server.lifespan = config.lifespan_class(config)   # as Server.serve sets it
    await server.startup(sockets=[sock])
    clients: list[socket.socket] = []
    try:
        assert config.backlog == 2048
        if _backlog(port) is not None:
            assert _backlog(port) == 2048
        # five connections queued in the kernel before the loop looks at the socket
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        loop.call_soon(ticker)
        await eventually(lambda: len(accepted_at) == 5, timeout=10)
    finally:
        for c in clients:
            c.close()
        server.should_exit = True
        await server.shutdown()
        sock.close()
    assert len(set(accepted_at)) == 5, f"accepts per loop iteration: {accepted_at}"
