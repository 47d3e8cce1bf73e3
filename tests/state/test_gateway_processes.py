"""Two real gateway processes (`python -m provider_fallback serve`, one of them with
`--workers 2`) share one Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from gateway_harness import CHAT, eventually, sims_running, stop_process, wait_serving
from redis_harness import free_port

from provider_fallback.sim import Fault

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def _write_config(path: Path, sims: list[Any], url: str, prefix: str) -> Path:
    data = {
        "providers": [{"name": s.name, "base_url": s.url} for s in sims],
        "models": {"chat": ["primary/m1", "backup/b1"]},
        "policy": {"timeout": 5, "connect_timeout": 2, "ttft_timeout": 3, "stall_timeout": 2,
                   "request_deadline": 20},
        "health": {"enabled": False},
        "telemetry": {"enabled": False},
        "state": {"backend": "redis", "url": url, "prefix": prefix, "cache_ttl": "100ms"},
    }
    path.write_text(yaml.safe_dump(data))
    return path


@asynccontextmanager
async def _gateway(config: Path, *args: str) -> AsyncIterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "provider_fallback", "serve", "-c", str(config),
                             "--port", str(port), "--log-level", "warning", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_serving(base, proc, timeout=30)
        yield base
    finally:
        stop_process(proc)
        if proc.stderr is not None:
            proc.stderr.close()


async def _chat(http: aiohttp.ClientSession, base: str) -> str:
    async with http.post(f"{base}/v1/chat/completions", json={"model": "chat", **CHAT}) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["x-provider-fallback-provider"]


async def _circuit(http: aiohttp.ClientSession, base: str, key: str) -> str:
    async with http.get(f"{base}/health/providers") as resp:
        status = await resp.json()
    provider = key.partition("/")[0]
    return str(status["providers"][provider]["targets"][key]["circuit"]["state"])


async def test_circuit_opened_in_gateway_a_is_skipped_by_gateway_b(tmp_path: Path,
                                                                   redis_url: str,
                                                                   prefix: str) -> None:
    async with sims_running({"name": "primary", "models": ["m1"]},
                            {"name": "backup", "models": ["b1"]}) as (p, b):
        cfg = _write_config(tmp_path / "provider_config.yaml", [p, b], redis_url, prefix)
        async with _gateway(cfg, "--workers", "2") as a, _gateway(cfg) as gb, \
                aiohttp.ClientSession() as http:
            assert await _chat(http, gb) == "primary"
            # a 429 with a long Retry-After opens the target at once, in whichever worker
            p.set_fault(Fault(status=429, retry_after=120), model="m1")
            assert await _chat(http, a) == "backup"

            async def b_sees_it() -> bool:
                return await _circuit(http, gb, "primary/m1") == "open"
            await eventually(b_sees_it, timeout=10)
            seen = p.count()
            for _ in range(3):
                assert await _chat(http, gb) == "backup"
                assert await _chat(http, a) == "backup"
            assert p.count() == seen
            async with http.get(f"{gb}/health/providers") as resp:
                state = (await resp.json())["state"]
            assert state["backend"] == "redis" and state["connected"] is True
