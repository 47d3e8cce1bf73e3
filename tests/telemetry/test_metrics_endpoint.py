"""GET /metrics over loopback: the listed metrics, bounded labels, the master key."""

from __future__ import annotations

import aiohttp
from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI
from prometheus_client.parser import text_string_to_metric_families

from provider_fallback.sim import Fault

SIMS = ({"name": "primary", "models": ["m"]}, {"name": "backup", "models": ["m"]})
KEY = "pf-master-0123456789"


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(series: dict, name: str, **labels: str) -> float:
    return sum(v for lab, v in series.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


async def scrape(url: str, key: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession() as s, s.get(url + "/metrics", headers=headers) as r:
        return r.status, await r.text()


async def test_metrics_after_a_fallback():
    async with sims_running(*SIMS) as (p, b):
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m", "backup/m"]},
                          server={"master_key": KEY})
        async with gateway_running(cfg) as gw:
            client = AsyncOpenAI(base_url=gw.url, api_key=KEY, max_retries=0)
            await client.chat.completions.create(model="chat", **CHAT)
            p.set_fault(Fault(status=503))
            await client.chat.completions.create(model="chat", **CHAT)
            stream = await client.chat.completions.create(model="chat", stream=True, **CHAT)
            async for _ in stream:
                pass
            # an unknown model name is user text: it must not become a label value
            try:
                await client.chat.completions.create(model="user-text-xyz", **CHAT)
            except Exception:
                pass
            await client.close()

            assert (await scrape(gw.base_url))[0] == 401
            status, text = await scrape(gw.base_url, KEY)
            assert status == 200
            m = samples(text)
            assert value(m, "provider_fallback_requests_total", alias="chat", provider="primary",
                         model="m", outcome="ok") == 1
            assert value(m, "provider_fallback_requests_total", alias="chat", provider="backup",
                         outcome="ok") == 2
            assert value(m, "provider_fallback_requests_total", alias="other",
                         outcome="model_not_found") == 1
            assert value(m, "provider_fallback_events_total", from_provider="primary",
                         to_provider="backup", reason="service_unavailable") >= 1
            assert value(m, "provider_fallback_attempts_total", provider="primary",
                         code="service_unavailable") >= 1
            assert value(m, "provider_fallback_attempt_duration_seconds_count", provider="backup",
                         result="ok") == 2
            assert value(m, "provider_fallback_time_to_first_token_seconds_count", provider="backup") == 1
            assert value(m, "provider_fallback_gateway_overhead_seconds_count") == 4
            assert value(m, "provider_fallback_tokens_total", provider="backup", kind="prompt") > 0
            assert m["provider_fallback_inflight_requests"][0][1] == 0
            assert value(m, "provider_health_status", provider="backup") == 1
            assert value(m, "provider_fallback_circuit_state", provider="primary", model="m") in (0, 2)
            for name in ("provider_fallback_retry_queue_depth", "provider_fallback_budget_ratio",
                         "provider_fallback_spend_usd_total", "provider_fallback_rate_limit_remaining"):
                assert name in m or name.removesuffix("_total") in text, name
            assert "user-text-xyz" not in text
            assert "pf-" + "0" not in text and KEY not in text


async def test_metrics_public_and_disabled():
    async with sims_running(SIMS[0]) as (p,):
        cfg = make_config({"primary": p}, {"chat": ["primary/m"]}, server={"master_key": KEY})
        cfg_public = make_config({"primary": p}, {"chat": ["primary/m"]},
                                 server={"master_key": KEY})
        from dataclasses import replace

        from provider_fallback.config import MetricsSettings

        async with gateway_running(replace(cfg_public, metrics=MetricsSettings(public=True))) as gw:
            assert (await scrape(gw.base_url))[0] == 200
        async with gateway_running(replace(cfg, metrics=MetricsSettings(enabled=False))) as gw:
            status, body = await scrape(gw.base_url, KEY)
            assert status == 404 and "not_found" in body
