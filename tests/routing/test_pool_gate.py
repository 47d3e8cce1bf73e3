"""The wait for a pooled connection happens at the provider's gate, before aiohttp: every
slot taken comes back (answers, streams, abandoned streams, failures), and a request that
waits too long is the gateway's own limit (gateway_overloaded), as before."""

from __future__ import annotations

import asyncio

import aiohttp
from gateway_harness import CHAT, eventually, gateway_running, make_config, sims_running

from provider_fallback.sim import Fault


def _gate(gw, provider: str) -> asyncio.Semaphore:
    return gw.router.plan._attempter._gates._gates[provider]


async def test_every_slot_comes_back():
    async with sims_running({"name": "p0", "models": ["m", "bad"]}) as (p0,):
        p0.set_fault(Fault(status=500), model="bad")
        cfg = make_config({"p0": p0}, {"chat": ["p0/m"], "bad": ["p0/bad"]},
                          providers={"p0": {"max_connections": 1}})
        async with gateway_running(cfg) as gw, aiohttp.ClientSession() as http:
            async def post(stream: bool, *, model: str = "chat", abandon: bool = False) -> int:
                async with http.post(gw.url + "/chat/completions",
                                     json={"model": model, "stream": stream, **CHAT}) as resp:
                    if abandon:
                        await resp.content.readany()
                        return resp.status   # leaves with the stream unread: closed
                    await resp.read()
                    return resp.status

            # more requests than the pool has connections: they queue at the gate
            assert await asyncio.gather(*(post(i % 2 == 0) for i in range(6))) == [200] * 6
            assert await post(True, abandon=True) == 200
            assert await post(False, model="bad") >= 500
            assert await post(True, model="bad") >= 500
            assert await asyncio.gather(*(post(True) for _ in range(3))) == [200] * 3
            gate = _gate(gw, "p0")
            await eventually(lambda: not gate.locked())
            assert gate._value == 1   # the one slot, back


async def test_a_stream_holding_the_only_connection_makes_the_next_wait_at_the_gate():
    async with sims_running({"name": "p0", "models": ["m", "slow"]},
                            {"name": "p1", "models": ["m"]}) as (p0, p1):
        p0.set_fault(Fault(latency=1.0), model="slow")
        cfg = make_config({"p0": p0, "p1": p1},
                          {"chat": [{"provider": "p0", "model": "m", "connect_timeout": 0.3},
                                    "p1/m"],
                           "slow": ["p0/slow"]},
                          providers={"p0": {"max_connections": 1}})
        async with gateway_running(cfg) as gw, aiohttp.ClientSession() as http:
            async def post(model: str, stream: bool) -> aiohttp.ClientResponse:
                async with http.post(gw.url + "/chat/completions",
                                     json={"model": model, "stream": stream, **CHAT}) as resp:
                    await resp.read()
                    return resp

            slow = asyncio.create_task(post("slow", True))
            await eventually(lambda: "p0" in gw.router.plan._attempter._gates._gates
                             and _gate(gw, "p0").locked())
            fast = await post("chat", True)
            assert fast.status == 200 and fast.headers["x-provider-fallback-provider"] == "p1"
            assert "p0/m=gateway_overloaded" in fast.headers["x-provider-fallback-route"]
            assert (await slow).status == 200
            await eventually(lambda: not _gate(gw, "p0").locked())
