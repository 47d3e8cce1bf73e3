"""Shared test harness: simulated providers + the real gateway on loopback ports."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from provider_fallback import Router, config_from_dict
from provider_fallback.config import Config
from provider_fallback.server import GatewayApp, running_gateway
from provider_fallback.sim import SimProvider


class Sleeps:
    """An injected sleep that records waits and returns at once (policy tests never sleep)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def make_config(sims: dict[str, SimProvider], chains: dict[str, list[Any]], *,
                policy: dict[str, Any] | None = None, server: dict[str, Any] | None = None,
                providers: dict[str, dict[str, Any]] | None = None,
                environ: dict[str, str] | None = None, health: dict[str, Any] | None = None,
                circuit: dict[str, Any] | None = None,
                sections: dict[str, Any] | None = None) -> Config:
    """A Config whose providers are the given running sims."""
    provs = []
    for name, sim in sims.items():
        entry: dict[str, Any] = {"name": name, "base_url": sim.url}
        entry.update((providers or {}).get(name, {}))
        provs.append(entry)
    data: dict[str, Any] = {"providers": provs, "models": chains}
    fast = {"timeout": 5, "connect_timeout": 2, "ttft_timeout": 3, "stall_timeout": 2,
            "request_deadline": 20}
    data["policy"] = {**fast, **(policy or {})}
    if server:
        data["server"] = server
    # probes are off unless a test asks: policy tests assert exact upstream call counts
    data["health"] = health if health is not None else {"enabled": False}
    if circuit:
        data["circuit"] = circuit
    data.update(sections or {})   # queue, budget, limits ... as in the file
    return config_from_dict(data, environ=environ or {})


@asynccontextmanager
async def sims_running(*specs: dict[str, Any]) -> AsyncIterator[list[SimProvider]]:
    started: list[SimProvider] = []
    try:
        for spec in specs:
            sim = SimProvider(**spec)
            await sim.start()
            started.append(sim)
        yield started
    finally:
        for sim in started:
            await sim.stop()


@dataclass
class Gateway:
    url: str
    base_url: str
    app: GatewayApp
    router: Router
    extra: dict[str, Any] = field(default_factory=dict)


@asynccontextmanager
async def gateway_running(config: Config, **router_kwargs: Any) -> AsyncIterator[Gateway]:
    """The real ASGI app under uvicorn in this event loop, on an ephemeral port."""
    async with running_gateway(config, **router_kwargs) as app:
        yield Gateway(app.base_url + "/v1", app.base_url, app, app.router)


async def eventually(pred: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        r = pred()
        if isinstance(r, Awaitable):
            r = await r
        if r:
            return
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


CHAT = {"messages": [{"role": "user", "content": "hi"}]}


async def wait_serving(base_url: str, proc: subprocess.Popen[bytes] | None = None,
                       timeout: float = 60) -> None:
    """Until a gateway process answers GET /health with 200 (fails at once if `proc` exits)."""
    async with aiohttp.ClientSession() as http:
        async def up() -> bool:
            if proc is not None:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                async with http.get(f"{base_url}/health") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False
        await eventually(up, timeout=timeout)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    """Terminate, then kill if it has not exited after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
