"""The wait for a pooled connection happens at the provider's gate, before aiohttp: every
slot taken comes back (answers, streams, abandoned streams, failures), and a request that
waits too long is the gateway's own limit (gateway_overloaded), as before."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from gateway_harness import CHAT, eventually, gateway_running, make_config, sims_running

from provider_fallback.errors import UpstreamError
from provider_fallback.sim import Fault


def _gate(gw, provider: str) -> Any:
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
            await eventually(lambda: gate.free == 1)   # the one slot, back
            assert not [w for w in gate.waiters if not w.done()]


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
                             and _gate(gw, "p0").free == 0)
            fast = await post("chat", True)
            assert fast.status == 200 and fast.headers["x-provider-fallback-provider"] == "p1"
            assert "p0/m=gateway_overloaded" in fast.headers["x-provider-fallback-route"]
            assert (await slow).status == 200
            await eventually(lambda: _gate(gw, "p0").free == 1)


async def test_a_waiter_cancelled_as_its_slot_comes_gives_it_back():
    from provider_fallback.config import config_from_dict
    from provider_fallback.routing._gate import PoolGates

    cfg = config_from_dict({"providers": [{"name": "p0", "base_url": "http://127.0.0.1:9/v1",
                                           "max_connections": 1}],
                            "models": {"chat": ["p0/m"]}}, environ={})
    target = cfg.chains["chat"].targets[0]
    gates = PoolGates()
    held = gates.take(target)
    assert held is not None and gates.take(target) is None
    waiting = asyncio.create_task(gates.wait(target, 5.0, 5.0))
    await asyncio.sleep(0)
    held()                 # the slot goes to the waiter...
    waiting.cancel()       # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate = gates._gates["p0"]
    assert gate.free == 1  # given back, not lost
    timed_out = gates.take(target)
    assert timed_out is not None
    with pytest.raises(UpstreamError) as info:
        await gates.wait(target, 0.01, 2.0)
    assert info.value.failure.code == "gateway_overloaded"
    timed_out()
    assert gate.free == 1
