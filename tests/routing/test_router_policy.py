"""Every row of the router policy, against simulated providers over loopback."""

from __future__ import annotations

import pytest
from gateway_harness import CHAT, Sleeps, make_config, sims_running

from provider_fallback import AllProvidersFailedError, Router, UpstreamError
from provider_fallback.errors import Failure, spec
from provider_fallback.health import Outcome
from provider_fallback.sim import Fault

PRIMARY = {"name": "primary", "models": ["m1", "m2"], "flavor": "groq"}
BACKUP = {"name": "backup", "models": ["b1"], "flavor": "openai"}
CHAIN = {"chat": ["primary/m1", "backup/b1"]}


def open_for(router, key: str) -> float:
    """Seconds left in the open period of circuit `key` (0 if closed or unknown)."""
    c = router.state.circuit(key)
    if c is None or c.state.value != "open":
        return 0.0
    return c.open_until - router._clock()


async def trip(router, key: str, retry_after: float) -> None:
    """Open circuit `key` as if the provider had answered 503 with Retry-After three times
    (with no other target available: the failure threshold opens it)."""
    provider, _, model = key.partition("/")
    target = next(t for c in router.config.chains.values() for t in c.targets if t.key == key)
    failure = Failure(spec("service_unavailable"), provider=provider, model=model,
                      retry_after=retry_after)
    for _ in range(3):
        now = router._clock()
        admission = await router.health.admit(target, now, 5)
        router.health.report(admission, Outcome(False, failure), now, alternatives=False)


async def _router(sims, chains=CHAIN, **kw):
    policy = kw.pop("policy", None)
    sleeps = Sleeps()
    cfg = make_config({s.name: s for s in sims}, chains, policy=policy)
    return Router(cfg, sleep=sleeps, rand=lambda: 0.5, **kw), sleeps


async def test_healthy_primary_answers_first():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        router, _ = await _router([p, b])
        async with router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "primary" and res.model == "m1"
        assert [a.code for a in res.attempts] == ["ok"]
        assert res.text and "primary" in res.text
        assert b.count() == 0


async def test_429_short_retry_after_retries_same_target():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.push_fault(Fault(status=429, flavor="groq", code="rate_limit_exceeded", retry_after=1))
        router, sleeps = await _router([p, b])
        async with router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "primary"
        assert [a.code for a in res.attempts][1] == "ok"
        assert res.attempts[0].code.startswith("rate_limit")
        assert sleeps.waits == [1.0]
        assert p.count() == 2 and b.count() == 0


async def test_429_long_retry_after_falls_over_and_cools_down():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=429, flavor="groq", code="rate_limit_exceeded", retry_after=30))
        router, sleeps = await _router([p, b])
        async with router:
            res = await router.chat(model="chat", **CHAT)
            assert res.provider == "backup" and sleeps.waits == []
            assert 28 < open_for(router, "primary/m1") <= 30
            # the cooled-down target is skipped: the primary sees no second request
            res2 = await router.chat(model="chat", **CHAT)
        assert res2.provider == "backup" and len(res2.attempts) == 1
        assert p.count() == 1


async def test_500_retried_once_then_falls_over():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=500))
        router, sleeps = await _router([p, b])
        async with router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "backup"
        assert [a.code for a in res.attempts] == ["server_error", "server_error", "ok"]
        assert p.count() == 2 and len(sleeps.waits) == 1
        assert 0 <= sleeps.waits[0] <= 0.25  # full jitter over base 0.25


@pytest.mark.parametrize("status", [502, 503, 504, 529])
async def test_gateway_statuses_fall_over_at_once(status):
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=status, flavor="anthropic" if status == 529 else "openai"))
        router, sleeps = await _router([p, b])
        async with router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "backup" and p.count() == 1 and sleeps.waits == []


async def test_connection_refused_falls_over_and_cools_provider():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        await p.close_listener()
        router, _ = await _router([p, b], chains={"chat": ["primary/m1", "backup/b1"],
                                                  "other": ["primary/m2", "backup/b1"]})
        async with router:
            res = await router.chat(model="chat", **CHAT)
            assert res.provider == "backup"
            assert res.attempts[0].code == "connection_refused"
            # the whole provider is cooling down, so its other model is skipped too
            res2 = await router.chat(model="other", **CHAT)
            assert len(res2.attempts) == 1 and res2.provider == "backup"
        await p.reopen_listener()


@pytest.mark.parametrize(("status", "code", "cooldown"), [
    (401, "invalid_api_key", 1800), (403, "permission_denied", 1800), (402, "insufficient_quota", 3600)])
async def test_auth_and_quota_cool_the_provider(status, code, cooldown):
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        fault_code = {401: "invalid_api_key", 403: None, 402: "insufficient_quota"}[status]
        p.set_fault(Fault(status=status, flavor="openai", code=fault_code))
        router, _ = await _router([p, b], chains={"chat": ["primary/m1", "primary/m2", "backup/b1"]})
        async with router:
            res = await router.chat(model="chat", **CHAT)
            assert res.provider == "backup"
            assert res.attempts[0].code == code
            # m2 is skipped: the provider, not only the model, is cooling down
            assert [a.model for a in res.attempts] == ["m1", "b1"]
            # opened at once (the provider said so plainly), for the registry's cooldown +-jitter
            assert open_for(router, "primary") > cooldown * 0.85


async def test_404_model_cools_only_that_model():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=404, flavor="groq", code="model_not_found"), model="m1")
        router, _ = await _router([p, b], chains={"chat": ["primary/m1", "primary/m2", "backup/b1"]})
        async with router:
            res = await router.chat(model="chat", **CHAT)
            assert (res.provider, res.model) == ("primary", "m2")
            assert router.state.circuit("primary/m1").code == "model_not_found"
            assert open_for(router, "primary/m1") > 600 * 0.85
            assert open_for(router, "primary") == 0


async def test_context_length_goes_to_larger_context_target():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=400, flavor="openai", code="context_length_exceeded"), model="m1")
        chains = {"chat": [{"provider": "primary", "model": "m1", "context": 8192},
                           {"provider": "primary", "model": "m2", "context": 4096},
                           {"provider": "backup", "model": "b1", "context": 131072}]}
        router, _ = await _router([p, b], chains=chains)
        async with router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "backup"
        assert [a.model for a in res.attempts] == ["m1", "b1"]  # m2 is smaller: skipped
        assert p.count(model="m1") == 1


async def test_context_length_without_larger_target_is_a_clean_400():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=400, flavor="openai", code="context_length_exceeded"))
        chains = {"chat": [{"provider": "primary", "model": "m1", "context": 8192},
                           {"provider": "primary", "model": "m2", "context": 4096}]}
        router, _ = await _router([p, b], chains=chains)
        async with router:
            with pytest.raises(UpstreamError) as ei:
                await router.chat(model="chat", **CHAT)
        assert ei.value.code == "context_length_exceeded" and ei.value.http_status == 400
        assert p.count() == 1


async def test_content_policy_is_propagated_not_fallen_over():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=400, flavor="openai", code="content_policy_violation",
                          message="Your request was rejected as a result of our safety system."))
        router, _ = await _router([p, b])
        async with router:
            with pytest.raises(UpstreamError) as ei:
                await router.chat(model="chat", **CHAT)
        assert ei.value.code == "content_policy" and "safety" in ei.value.message
        assert b.count() == 0


async def test_content_policy_fallback_option():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=400, flavor="openai", code="content_policy_violation"))
        router, _ = await _router([p, b], policy={"content_policy_fallback": True})
        async with router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "backup"


async def test_other_caller_errors_are_returned_as_they_are():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=422, flavor="openai", message="temperature must be <= 2"))
        router, sleeps = await _router([p, b])
        async with router:
            with pytest.raises(UpstreamError) as ei:
                await router.chat(model="chat", **CHAT)
        assert ei.value.http_status == 422 and "temperature" in ei.value.message
        assert p.count() == 1 and b.count() == 0 and sleeps.waits == []


async def test_every_target_cooling_down_tries_the_soonest():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        router, _ = await _router([p, b])
        async with router:
            await trip(router, "primary/m1", retry_after=100)
            await trip(router, "backup/b1", retry_after=10)
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "backup"
        assert res.attempts[0].note.startswith("bypass")


async def test_all_failed_lists_every_attempt_with_retry_after():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=503, retry_after=7))
        b.set_fault(Fault(status=503))
        router, _ = await _router([p, b])
        async with router:
            with pytest.raises(AllProvidersFailedError) as ei:
                await router.chat(model="chat", **CHAT)
        err = ei.value
        assert err.code == "all_providers_failed" and err.http_status == 503
        assert [(a.provider, a.code, a.status) for a in err.attempts] == [
            ("primary", "service_unavailable", 503), ("backup", "service_unavailable", 503)]
        assert err.retry_after is not None and 6 < err.retry_after <= 7
        body = err.to_openai_error()["error"]
        assert body["code"] == "all_providers_failed" and len(body["attempts"]) == 2


async def test_silent_target_times_out_and_is_not_retried():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(hang=True))
        router, sleeps = await _router([p, b], policy={"timeout": 0.3})
        async with router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "backup"
        assert res.attempts[0].code == "timeout_total" and p.count() == 1 and sleeps.waits == []


async def test_tcp_reset_before_headers_falls_over():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(reset=True))
        router, _ = await _router([p, b])
        async with router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "backup"
        assert res.attempts[0].code in ("connection_reset", "stream_cut")


async def test_request_deadline_caps_attempts():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(hang=True))
        b.set_fault(Fault(hang=True))
        router, _ = await _router([p, b], policy={"timeout": 5, "request_deadline": 0.4})
        async with router:
            with pytest.raises(AllProvidersFailedError) as ei:
                await router.chat(model="chat", **CHAT)
        assert ei.value.attempts[0].code == "timeout_total"


async def test_unknown_model_lists_aliases():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        router, _ = await _router([p, b])
        async with router:
            with pytest.raises(Exception) as ei:
                await router.chat(model="nope", **CHAT)
        assert getattr(ei.value, "code", None) == "model_not_found"
        assert ei.value.http_status == 404 and "chat" in str(ei.value)


async def test_pass_through_model_served_by_one_provider():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        router, _ = await _router([p, b])
        async with router:
            res = await router.chat(model="b1", **CHAT)
        assert res.provider == "backup"


async def test_an_answer_whose_body_stalls_times_out_within_the_attempt_timeout():
    """The head came, half the body, then nothing: the attempt's timeout covers the body's
    reading too (a deadline on the upstream connection), then the backup answers."""
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(stall_after=1))
        router, sleeps = await _router([p, b], policy={"timeout": 0.3})
        async with router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "backup"
        assert res.attempts[0].code == "timeout_total" and p.count() == 1
        assert 0.25 < res.attempts[0].ms / 1000 < 2
