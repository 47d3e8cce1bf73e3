"""Two real gateway processes (`python -m provider_fallback serve`, one of them with
`--workers 2`) share one Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from gateway_harness import CHAT, eventually, sims_running
from redis_harness import assert_every_key_has_a_ttl, new_prefix
from state_gateways import chat, circuit, gateway, status, write_config

from provider_fallback.sim import Fault

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def test_circuit_opened_in_gateway_a_is_skipped_by_gateway_b(tmp_path: Path,
                                                                   redis_url: str,
                                                                   prefix: str) -> None:
    async with sims_running({"name": "primary", "models": ["m1"]},
                            {"name": "backup", "models": ["b1"]}) as (p, b):
        cfg = write_config(tmp_path / "provider_config.yaml", [p, b], redis_url, prefix)
        async with gateway(cfg, "--workers", "2") as a, gateway(cfg) as gb, \
                aiohttp.ClientSession() as http:
            assert await chat(http, gb) == "primary"
            # a 429 with a long Retry-After opens the target at once, in whichever worker
            p.set_fault(Fault(status=429, retry_after=120), model="m1")
            assert await chat(http, a) == "backup"

            async def b_sees_it() -> bool:
                return await circuit(http, gb, "primary/m1") == "open"
            await eventually(b_sees_it, timeout=10)
            seen = p.count()
            for _ in range(3):
                assert await chat(http, gb) == "backup"
                assert await chat(http, a) == "backup"
            assert p.count() == seen
            state = (await status(http, gb))["state"]
            assert state["backend"] == "redis" and state["connected"] is True


def _client(base: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)


async def test_a_30_rpm_limit_shared_by_two_gateways_admits_30(tmp_path: Path, redis_url: str,
                                                               prefix: str) -> None:
    async with sims_running({"name": "primary", "models": ["m1"]}) as (p,):
        cfg = write_config(tmp_path / "provider_config.yaml", [p], redis_url, prefix,
                           chat=[{"provider": "primary", "model": "m1", "limits": {"rpm": 30}}],
                           queue={"enabled": False})
        async with gateway(cfg, "--workers", "2") as a, gateway(cfg) as gb:
            clients = [_client(a), _client(gb)]
            answered = refused = 0
            for i in range(50):
                try:
                    await clients[i % 2].chat.completions.create(model="chat", **CHAT)
                    answered += 1
                except openai.APIStatusError as exc:   # every target held back: 503
                    body = exc.body if isinstance(exc.body, dict) else {}
                    assert exc.status_code == 503 and body.get("code") == "all_providers_failed"
                    assert "rate_limit" in str(body.get("message"))
                    assert int(exc.response.headers["retry-after"]) > 0
                    refused += 1
            for c in clients:
                await c.close()
    assert answered == 30 and refused == 20
    assert p.count() == 30          # each gateway alone would have let 30 through


async def test_a_half_open_trial_happens_once_across_gateways(tmp_path: Path, redis_url: str,
                                                              prefix: str) -> None:
    async with sims_running({"name": "primary", "models": ["m1"]},
                            {"name": "backup", "models": ["b1"]}) as (p, b):
        cfg = write_config(tmp_path / "provider_config.yaml", [p, b], redis_url, prefix)
        async with gateway(cfg, "--workers", "2") as a, gateway(cfg) as gb, \
                aiohttp.ClientSession() as http:
            p.set_fault(Fault(status=429, retry_after=2), model="m1")   # open for 2 s
            assert await chat(http, a) == "backup"

            async def open_in_both() -> bool:
                return all([await circuit(http, g, "primary/m1") == "open" for g in (a, gb)])
            await eventually(open_in_both, timeout=10)
            p.set_fault(Fault(latency=1.0), model="m1")   # a slow trial: others arrive meanwhile
            await asyncio.sleep(2.2)
            seen = p.count()
            got = await asyncio.gather(*(chat(http, g) for g in (a, gb, a, gb, a, gb)))
            assert p.count() - seen == 1                 # one trial, not one per process
            assert got.count("primary") == 1 and got.count("backup") == 5

            async def closed_in_both() -> bool:
                return all([await circuit(http, g, "primary/m1") == "closed" for g in (a, gb)])
            await eventually(closed_in_both, timeout=10)


async def test_gateways_keep_answering_while_redis_is_down(tmp_path: Path,
                                                           dedicated_redis: Any) -> None:
    prefix = new_prefix()
    async with sims_running({"name": "primary", "models": ["m1"]},
                            {"name": "backup", "models": ["b1"]}) as (p, b):
        cfg = write_config(tmp_path / "provider_config.yaml", [p, b], dedicated_redis.url,
                            prefix)
        async with gateway(cfg) as a, gateway(cfg) as gb, aiohttp.ClientSession() as http:
            assert await chat(http, a) == "primary" and await chat(http, gb) == "primary"
            dedicated_redis.kill()
            for _ in range(3):
                assert await chat(http, a) == "primary"
                assert await chat(http, gb) == "primary"

            async def connected(g: str) -> bool:
                return bool((await status(http, g))["state"]["connected"])

            async def both_degraded() -> bool:
                return not await connected(a) and not await connected(gb)
            await eventually(both_degraded, timeout=10)
            # A learns something while Redis is away: B cannot hear it yet
            p.set_fault(Fault(status=429, retry_after=120), model="m1")
            assert await chat(http, a) == "backup"
            assert await circuit(http, gb, "primary/m1") == "closed"
            dedicated_redis.start()   # empty: no persistence

            async def reconverged() -> bool:
                return (await connected(a) and await connected(gb)
                        and await circuit(http, gb, "primary/m1") == "open")
            await eventually(reconverged, timeout=15)
            seen = p.count()
            assert await chat(http, gb) == "backup"
            assert p.count() == seen
    assert_every_key_has_a_ttl(dedicated_redis.url, prefix)
