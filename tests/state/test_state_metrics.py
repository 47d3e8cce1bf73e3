"""/metrics says whether the shared state is reachable: a dedicated Redis killed mid-test
turns `provider_fallback_state_connected` to 0 and counts one degradation; back, it is 1."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from gateway_harness import CHAT, eventually, gateway_running, make_config, sims_running
from prometheus_client.parser import text_string_to_metric_families
from redis_harness import assert_every_key_has_a_ttl, new_prefix

pytestmark = pytest.mark.redis


async def _scrape(base_url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as s, s.get(base_url + "/metrics") as r:
        assert r.status == 200
        text = await r.text()
    out = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            if sample.name.startswith("provider_fallback_state_"):
                assert sample.labels == {"backend": "redis"}, sample
                out[sample.name] = sample.value
    return out


async def test_connection_gauge_and_degradation_counter(dedicated_redis: Any) -> None:
    prefix = new_prefix()
    async with sims_running({"name": "primary", "models": ["m"]}) as (p,):
        cfg = make_config({"primary": p}, {"chat": ["primary/m"]}, sections={
            "state": {"backend": "redis", "url": dedicated_redis.url, "prefix": prefix,
                      "cache_ttl": "100ms"},
            "metrics": {"public": True}})
        async with gateway_running(cfg) as gw:
            assert await _scrape(gw.base_url) == {"provider_fallback_state_connected": 1,
                                                  "provider_fallback_state_degradations_total": 0,
                                                  "provider_fallback_state_replicas": 1,
                                                  "provider_fallback_state_window_calls_total": 0}
            dedicated_redis.kill()

            async def down() -> bool:
                return (await _scrape(gw.base_url))["provider_fallback_state_connected"] == 0
            await eventually(down, timeout=10)
            async with aiohttp.ClientSession() as s:   # still answering, on local state
                async with s.post(gw.url + "/chat/completions",
                                  json={"model": "chat", **CHAT}) as r:
                    assert r.status == 200
            assert (await _scrape(gw.base_url))["provider_fallback_state_degradations_total"] == 1
            dedicated_redis.start()

            async def up() -> bool:
                return (await _scrape(gw.base_url))["provider_fallback_state_connected"] == 1
            await eventually(up, timeout=10)
            assert (await _scrape(gw.base_url))["provider_fallback_state_degradations_total"] == 1
    assert_every_key_has_a_ttl(dedicated_redis.url, prefix)
