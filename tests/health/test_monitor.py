"""The active health monitor: probe tiers against simulated providers over loopback."""

from __future__ import annotations

import asyncio
import time

from gateway_harness import CHAT, eventually, make_config, sims_running

from provider_fallback import Router
from provider_fallback.health import UNHEALTHY
from provider_fallback.sim import Fault

FAST = {"quick_interval": 0.2, "quick_timeout": 1, "full_interval": 0.3, "full_timeout": 1}


def _router(sims, chains, health=None, providers=None, environ=None):
    cfg = make_config({s.name: s for s in sims}, chains, health={**FAST, **(health or {})},
                      providers=providers, environ=environ)
    return Router(cfg)


async def test_dead_provider_is_noticed_by_quick_ping_before_any_request_and_comes_back():
    async with sims_running({"name": "primary", "models": ["m"]},
                           {"name": "backup", "models": ["m"]}) as (p, b):
        await p.close_listener()
        async with _router([p, b], {"chat": ["primary/m", "backup/m"]}) as router:
            await eventually(lambda: router.status()["providers"]["primary"]["status"] == UNHEALTHY)
            view = router.status()["providers"]["primary"]
            assert view["circuit"]["code"] == "connection_refused"
            assert view["probes"]["quick"]["ok"] is False
            res = await router.chat(model="chat", **CHAT)
            assert [a.provider for a in res.attempts] == ["backup"]   # no wasted attempt
            await p.reopen_listener()
            started = time.monotonic()

            async def primary_answers() -> bool:
                return (await router.chat(model="chat", **CHAT)).provider == "primary"
            await eventually(primary_answers, timeout=3)
            # restored by the probe, within about one quick-ping interval (not the cooldown)
            assert time.monotonic() - started < 1.5
            assert any(e.type == "RESTORED" and e.fields["provider"] == "primary"
                       for e in router.events.recent())


async def test_full_probe_reports_missing_models_and_wrong_key():
    async with sims_running({"name": "p", "models": ["m"], "api_key": "right"}) as (p,):
        environ = {"P_KEY": "wrong"}
        providers = {"p": {"api_key": "os.environ/P_KEY"}}
        async with _router([p], {"chat": ["p/m", "p/gone"]}, providers=providers,
                           environ=environ) as router:
            await eventually(lambda: "full" in router.status()["providers"]["p"]["probes"]
                             and "ok" in router.status()["providers"]["p"]["probes"]["full"])
            view = router.status()["providers"]["p"]
            assert view["probes"]["full"]["ok"] is False
            assert view["probes"]["full"]["code"] == "invalid_api_key"
            assert view["status"] == UNHEALTHY      # auth opens the provider
        environ = {"P_KEY": "right"}
        async with _router([p], {"chat": ["p/m", "p/gone"]}, providers=providers,
                           environ=environ) as router:
            await eventually(lambda: router.status()["providers"]["p"]["probes"]
                             .get("full", {}).get("ok") is True)
            assert router.status()["providers"]["p"]["probes"]["full"]["missing_models"] == ["gone"]


async def test_skipped_probes_say_why():
    async with sims_running({"name": "a", "models": ["m"]}, {"name": "b", "models": ["m"]}) as (a, b):
        providers = {"b": {"probe": False}}
        async with _router([a, b], {"chat": ["a/m", "b/m"]}, providers=providers) as router:
            await eventually(lambda: "quick" in router.status()["providers"]["a"]["probes"])
            probes = router.status()["providers"]
            assert probes["a"]["probes"]["full"]["skipped"] == "no API key configured"
            assert probes["a"]["probes"]["validate"]["skipped"] == "no API key configured"
            assert probes["b"]["probes"]["quick"]["skipped"] == "probe: false in config"
            assert b.count() == 0


async def test_validation_tier_is_opt_in_and_one_probe_at_a_time():
    async with sims_running({"name": "p", "models": ["m"], "api_key": "k"}) as (p,):
        providers = {"p": {"api_key": "os.environ/P_KEY", "validate_calls": True}}
        health = {"quick_interval": 60, "full_interval": 60, "validate_interval": 60}
        async with _router([p], {"chat": ["p/m"]}, health=health, providers=providers,
                           environ={"P_KEY": "k"}) as router:
            await eventually(lambda: p.count(path="chat") >= 1)
            assert p.log[-1].path.endswith("/chat/completions")
            p.set_fault(Fault(latency=0.2))
            p.reset_log()
            started = time.monotonic()
            results = await asyncio.gather(*(router.monitor.probe_now("p", "validate")
                                             for _ in range(3)))
            assert all(r.ok for r in results)
            # serialised per provider: three 0.2 s probes take at least 0.6 s
            assert time.monotonic() - started >= 0.6
            assert p.count(path="chat") == 3
