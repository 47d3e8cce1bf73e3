"""`serve --workers 2` with `supervise:` starts exactly one copy of the upstream, in the
supervisor process; every worker reports the same upstream; it stops with the gateway."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import yaml
from gateway_harness import CHAT, eventually, stop_process, wait_serving
from ports import free_port

# the supervised command: note our pid, then serve as a simulated OpenAI-compatible upstream
UPSTREAM = ("import os, sys\n"
            "open(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\n"
            "from provider_fallback.sim._cli import run_sim\n"
            "run_sim(port=int(sys.argv[2]), models=['m'], flavor='openai', fault=None, rpm=None,"
            " latency=0.0)\n")


def _alive(pid: int) -> bool:
    if sys.platform == "win32":
        out = subprocess.run(["tasklist", "/FI", f"PID eq {pid}", "/NH"], capture_output=True,
                             text=True).stdout
        return str(pid) in out
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(")")[-1].split()[0] != "Z"


def _events(db: Path, kind: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE type = ?", (kind,)).fetchone()[0])


async def test_two_workers_one_supervised_upstream(tmp_path: Path) -> None:
    up_port, gw_port = free_port(), free_port()
    pids = tmp_path / "upstream.pids"
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(yaml.safe_dump({
        "providers": [{"name": "local", "base_url": f"http://127.0.0.1:{up_port}/v1",
                       "supervise": {"command": [sys.executable, "-c", UPSTREAM, str(pids),
                                                 str(up_port)], "startup_grace": "30s"}}],
        "models": {"chat": ["local/m"]},
        "health": {"quick_interval": "1s", "quick_timeout": "2s"},
        "telemetry": {"log_dir": str(tmp_path / "logs")},
        "budget": {"data_dir": str(tmp_path)},
    }), encoding="utf-8")
    log = (tmp_path / "serve.log").open("wb")
    gw = subprocess.Popen([sys.executable, "-m", "provider_fallback", "serve", "-c", str(cfg),
                           "--port", str(gw_port), "--workers", "2", "--log-level", "info"],
                          stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{gw_port}"
    try:
        await wait_serving(base, gw, timeout=90)
        # both workers are through their startup (where each used to start its own copy)
        await eventually(lambda: (tmp_path / "serve.log").read_text(errors="replace")
                         .count("Application startup complete") == 2, timeout=90)
        async with aiohttp.ClientSession() as http:
            async def answered() -> bool:
                async with http.post(f"{base}/v1/chat/completions",
                                     json={"model": "chat", **CHAT}) as resp:
                    return resp.status == 200
            await eventually(answered, timeout=60)
            db = tmp_path / "logs" / "telemetry.sqlite3"
            await eventually(lambda: _events(db, "UPSTREAM_STARTED") >= 1, timeout=30)
            started = [int(p) for p in pids.read_text().split()]
            assert len(started) == 1, f"{len(started)} copies of the upstream started: {started}"
            seen = set()
            for _ in range(8):                  # the answers come from either worker
                async with http.get(f"{base}/admin/providers") as resp:
                    sup = (await resp.json())["providers"]["local"]["supervised"]
                seen.add((sup["pid"], sup["running"],
                          sup.get("managed_by", "").split("(")[0].strip()))
        assert seen == {(started[0], True, "supervisor process")}
        assert _events(db, "UPSTREAM_STARTED") == 1          # logged once, not per worker
        assert _events(db, "UPSTREAM_RESTARTED") == 0 and _events(db, "UPSTREAM_RESTART_FAILED") == 0
    finally:
        stop_process(gw, grace=30)
        log.close()
    # the gateway's shutdown stops the upstream too
    await eventually(lambda: not _alive(started[0]), timeout=30)
    assert "Traceback" not in (tmp_path / "serve.log").read_text(errors="replace"), \
        (tmp_path / "serve.log").read_text(errors="replace")[-3000:]


def test_the_plain_asyncio_loop_can_be_forced(monkeypatch) -> None:
    from provider_fallback.server._serve import event_loop_kind, uvicorn_config

    monkeypatch.setenv("PROVIDER_FALLBACK_LOOP", "asyncio")
    assert event_loop_kind() == "asyncio"
    assert uvicorn_config(object(), "127.0.0.1", 0).loop == "asyncio"
