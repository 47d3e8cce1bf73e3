"""Circuit breakers driven by real requests to simulated providers over loopback."""

from __future__ import annotations

import asyncio

from gateway_harness import CHAT, Sleeps, make_config, sims_running

from provider_fallback import Router
from provider_fallback.health import DEGRADED, HEALTHY, UNHEALTHY
from provider_fallback.sim import Fault

PRIMARY = {"name": "primary", "models": ["m1", "m2"], "flavor": "groq"}
BACKUP = {"name": "backup", "models": ["b1"]}
CHAINS = {"chat": ["primary/m1", "backup/b1"], "other": ["primary/m2", "backup/b1"]}


def _router(sims, chains=CHAINS, circuit=None, providers=None):
    cfg = make_config({s.name: s for s in sims}, chains, circuit=circuit, providers=providers)
    return Router(cfg, sleep=Sleeps(), rand=lambda: 0.5)


def _state(router, key):
    c = router.state.circuit(key)
    return "closed" if c is None else c.state.value


async def test_a_first_503_opens_the_target_when_the_backup_can_serve_then_it_is_skipped():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=503), model="m1")
        async with _router([p, b]) as router:
            res = await router.chat(model="chat", **CHAT)
            assert res.provider == "backup"
            assert _state(router, "primary/m1") == "open"   # one strike: a 503 with a backup
            assert _state(router, "primary") == "closed"   # only that model
            seen = p.count()
            for _ in range(10):
                res = await router.chat(model="chat", **CHAT)
                assert [a.provider for a in res.attempts] == ["backup"]
            assert p.count() == seen == 1                 # not one request per call
            res = await router.chat(model="other", **CHAT)  # the provider's other model works
            assert res.provider == "primary"
            types = [e.type for e in router.events.recent()]
            assert "CIRCUIT_OPENED" in types and types.count("FALLBACK") == 1


async def test_503s_of_the_last_target_standing_open_only_after_the_threshold():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        b.set_fault(Fault(status=503))
        async with _router([p, b], chains={"solo": ["backup/b1"]}) as router:
            for n in range(3):
                assert _state(router, "backup/b1") == "closed", n
                try:
                    await router.chat(model="solo", **CHAT)
                except Exception as exc:
                    assert getattr(exc, "code", "") == "all_providers_failed"
            assert _state(router, "backup/b1") == "open"
            assert b.count() == 3


async def test_caller_errors_never_open_a_circuit():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=400, code="invalid_request_error", message="bad 'temperature'"))
        async with _router([p, b]) as router:
            for _ in range(6):
                try:
                    await router.chat(model="chat", **CHAT)
                except Exception as exc:  # the caller's own mistake comes back as it is
                    assert getattr(exc, "http_status", 400) == 400
            assert _state(router, "primary/m1") == "closed"
            assert _state(router, "primary") == "closed"


async def test_auth_failure_opens_the_whole_provider():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=401, code="invalid_api_key"))
        async with _router([p, b]) as router:
            res = await router.chat(model="chat", **CHAT)
            assert res.provider == "backup"
            assert _state(router, "primary") == "open"
            res = await router.chat(model="other", **CHAT)   # other model skipped too
            assert [a.provider for a in res.attempts] == ["backup"]
            view = router.status()["providers"]["primary"]
            assert view["status"] == UNHEALTHY and "invalid_api_key" in view["why"]


async def test_all_open_bypass_says_so_in_the_attempt_list():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=401, code="invalid_api_key"))
        b.set_fault(Fault(status=401))
        async with _router([p, b]) as router:
            try:
                await router.chat(model="chat", **CHAT)
            except Exception:
                pass
            p.set_fault(None)
            b.set_fault(None)
            res = await router.chat(model="chat", **CHAT)
            assert res.provider == "primary"
            assert "bypass" in res.attempts[0].note


async def test_half_open_admits_exactly_one_trial_under_concurrency():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=503), model="m1")
        async with _router([p, b]) as router:
            for _ in range(3):
                await router.chat(model="chat", **CHAT)
            c = router.state.circuit("primary/m1")
            c.open_until = router._clock()          # the open period is over
            p.set_fault(Fault(status=503, latency=0.2), model="m1")   # the trial is slow
            before = p.count()
            results = await asyncio.gather(*(router.chat(model="chat", **CHAT) for _ in range(20)))
            assert p.count() - before == 1           # one trial, not a stampede
            notes = [a.note for r in results for a in r.attempts if a.provider == "primary"]
            assert len(notes) == 1 and "half-open" in notes[0]
            assert all(r.provider == "backup" for r in results)
            assert _state(router, "primary/m1") == "open"
            assert router.state.circuit("primary/m1").reopens == 1


async def test_recovered_trial_closes_and_traffic_returns_at_once():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=503), model="m1")
        async with _router([p, b]) as router:
            for _ in range(3):
                await router.chat(model="chat", **CHAT)
            p.set_fault(None, model="m1")
            router.state.circuit("primary/m1").open_until = router._clock()
            res = await router.chat(model="chat", **CHAT)
            assert res.provider == "primary" and "half-open" in res.attempts[0].note
            assert _state(router, "primary/m1") == "closed"
            res = await router.chat(model="chat", **CHAT)
            assert res.provider == "primary" and res.attempts[0].note == ""
            restored = [e for e in router.events.recent() if e.type == "RESTORED"]
            assert restored and restored[-1].fields["target"] == "primary/m1"
            assert restored[-1].fields["downtime_s"] >= 0


async def test_slow_target_is_degraded_and_moved_behind_an_equal_priority_peer():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        chains = {"chat": [{"provider": "primary", "model": "m1", "priority": 1},
                           {"provider": "backup", "model": "b1", "priority": 1}]}
        circuit = {"slow_call_threshold": 0.05, "min_calls": 4, "slow_call_rate": 0.5}
        p.set_fault(Fault(latency=0.08), model="m1")
        async with _router([p, b], chains=chains, circuit=circuit) as router:
            for _ in range(4):
                res = await router.chat(model="chat", **CHAT)
                assert res.provider == "primary"     # slow, but answering
            target = router.config.chains["chat"].targets[0]
            assert router.health.target_status(target, router._clock()) == DEGRADED
            res = await router.chat(model="chat", **CHAT)
            assert res.provider == "backup"          # demoted, not removed
            assert any(e.type == "DEGRADED" for e in router.events.recent())
            assert router.status()["providers"]["primary"]["status"] == DEGRADED


async def test_all_down_and_recovered_events():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=503))
        b.set_fault(Fault(status=503))
        async with _router([p, b]) as router:
            try:
                await router.chat(model="chat", **CHAT)
            except Exception:
                pass
            p.set_fault(None)
            b.set_fault(None)
            res = await router.chat(model="chat", **CHAT)
            types = [e.type for e in router.events.recent()]
            assert types.count("ALL_DOWN") == 1 and types.count("RECOVERED") == 1
            # the primary's first 503 opened it (the backup could still serve then)
            assert res.provider == "backup" and _state(router, "primary/m1") == "open"
            assert router.status()["providers"]["backup"]["status"] == HEALTHY
