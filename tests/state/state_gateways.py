"""Replicas on a shared Redis, for the shared-state tests: routers in this process
(`router_config`, `routers`), or real gateway processes (`python -m provider_fallback
serve`: `write_config`, `gateway`) and the calls the tests make to them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from gateway_harness import CHAT, Sleeps, make_config, stop_process, wait_serving
from redis_harness import free_port

from provider_fallback import Config, Router

PRIMARY = {"name": "primary", "models": ["m1"]}
BACKUP = {"name": "backup", "models": ["b1"]}
CHAINS: dict[str, list[Any]] = {"chat": ["primary/m1", "backup/b1"]}


# Redis calls on the request path may take this long before the replica serves on local
# state: generous, so a loaded test machine does not turn a correctness test into one of
# degradation (the slow-Redis test sets the real 50 ms)
TEST_TIMEOUT = "1s"


def router_config(sims: list[Any], url: str, prefix: str,
                  chains: dict[str, list[Any]] = CHAINS, *, timeout: str = TEST_TIMEOUT,
                  **sections: Any) -> Config:
    """A config over running sims with Redis state polled every 100 ms."""
    state = {"backend": "redis", "url": url, "prefix": prefix, "cache_ttl": "100ms",
             "timeout": timeout}
    return make_config({s.name: s for s in sims}, chains,
                       sections={"state": state, **sections})


@asynccontextmanager
async def routers(config: Config, n: int = 2) -> AsyncIterator[list[Router]]:
    """`n` started routers (replicas) over `config`, each with its own RedisState."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(Router(config, sleep=Sleeps(), rand=lambda: 0.5))
               for _ in range(n)]


def write_config(path: Path, sims: list[Any], url: str, prefix: str,
                 chat: list[Any] | None = None, **sections: Any) -> Path:
    """`chat` -> primary/m1 then backup/b1 unless given; probes and telemetry off."""
    data = {
        "providers": [{"name": s.name, "base_url": s.url} for s in sims],
        "models": {"chat": chat or ["primary/m1", "backup/b1"]},
        "policy": {"timeout": 5, "connect_timeout": 2, "ttft_timeout": 3, "stall_timeout": 2,
                   "request_deadline": 20},
        "health": {"enabled": False},
        "telemetry": {"enabled": False},
        "state": {"backend": "redis", "url": url, "prefix": prefix, "cache_ttl": "100ms",
                  "timeout": TEST_TIMEOUT},
        **sections,
    }
    path.write_text(yaml.safe_dump(data))
    return path


@asynccontextmanager
async def gateway(config: Path, *args: str, timeout: float = 30.0) -> AsyncIterator[str]:
    """A gateway process serving `config` (extra `serve` args, e.g. --workers 2); yields
    its base URL and stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "provider_fallback", "serve", "-c",
                             str(config), "--port", str(port), "--log-level", "warning", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_serving(base, proc, timeout=timeout)
        yield base
    finally:
        stop_process(proc)
        if proc.stderr is not None:
            proc.stderr.close()


async def chat(http: aiohttp.ClientSession, base: str) -> str:
    """One chat request that must answer 200; the provider that answered."""
    async with http.post(f"{base}/v1/chat/completions", json={"model": "chat", **CHAT}) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["x-provider-fallback-provider"]


async def status(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    async with http.get(f"{base}/health/providers") as resp:
        return dict(await resp.json())


async def circuit(http: aiohttp.ClientSession, base: str, key: str) -> str:
    """The state of the circuit of target `key` ("provider/model") as `base` sees it."""
    provider = key.partition("/")[0]
    return str((await status(http, base))["providers"][provider]["targets"][key]
               ["circuit"]["state"])
