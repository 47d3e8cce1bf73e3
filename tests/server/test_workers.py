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

pytestmark = pytest.mark.skipif(sys.platform == "win32",
                                reason="Unix only: os.getppid never changes on Windows")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        port = _free_port()
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
