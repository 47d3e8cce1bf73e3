"""A 429 that says when to come back only in its body feeds the ledger and the cooldown
exactly as headers would (simulated OpenRouter and Groq on loopback, no rate headers)."""

from __future__ import annotations

import pytest
from gateway_harness import CHAT, make_config, sims_running

from provider_fallback import Router
from provider_fallback.sim import Fault

FREE = "z-ai/glm-5:free"


async def test_openrouter_daily_cap_reset_only_in_the_body():
    async with sims_running({"name": "openrouter", "flavor": "openrouter", "models": [FREE]},
                            {"name": "backup", "models": ["b"]}) as (orouter, backup):
        orouter.push_fault(Fault(body_reset=7200.0))         # free-models-per-day, 2 h left
        cfg = make_config({"openrouter": orouter, "backup": backup},
                          {"free": [f"openrouter/{FREE}", "backup/b"]})
        async with Router(cfg, monitor=False) as router:
            first = await router.chat(model="free", **CHAT)
            assert [a.code for a in first.attempts] == ["rate_limit_rpd", "ok"]
            target = cfg.chains["free"].targets[0]
            now = router._clock()
            view = router.limits.view(target, now)
            # the ledger learned the window the body named: 50 a day, none left, until the reset
            assert (view["rpd"]["limit"], view["rpd"]["remaining"], view["rpd"]["source"]) == \
                (50, 0, "learned")
            assert view["rpd"]["reset_in_s"] == pytest.approx(7200, abs=5)
            assert view["blocked_s"] == pytest.approx(7200, abs=5)
            # and the circuit is open until then, not for the registry's one hour
            blocked = router.health.blocked(target, now)
            assert blocked.code == "rate_limit_rpd"
            assert blocked.until - now == pytest.approx(7200, abs=5)
            second = await router.chat(model="free", **CHAT)
            assert second.provider == "backup" and len(second.attempts) == 1
    assert orouter.count(path="chat") == 1                 # never asked again


async def test_groq_try_again_in_the_body_without_headers():
    model = "llama-3.1-8b-instant"
    async with sims_running({"name": "groq", "flavor": "groq", "models": [model]},
                            {"name": "backup", "models": ["b"]}) as (groq, backup):
        groq.push_fault(Fault(status=429))    # "...requests per minute (RPM): Limit 30, Used 30,
        cfg = make_config({"groq": groq, "backup": backup},  # Requested 1. ... try again in 2s"
                          {"fast": [f"groq/{model}", "backup/b"]},
                          policy={"rate_limit_max_wait": 0})
        async with Router(cfg, monitor=False) as router:
            answer = await router.chat(model="fast", **CHAT)
            assert [a.code for a in answer.attempts] == ["rate_limit_rpm", "ok"]
            target = cfg.chains["fast"].targets[0]
            now = router._clock()
            view = router.limits.view(target, now)
            assert (view["rpm"]["limit"], view["rpm"]["remaining"], view["rpm"]["source"]) == \
                (30, 0, "learned")
            assert view["blocked_s"] == pytest.approx(2.0, abs=0.5)
            blocked = router.health.blocked(target, now)
            assert blocked.until - now == pytest.approx(2.0, abs=0.5)
