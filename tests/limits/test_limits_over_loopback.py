"""Rate limits before they bite: the router against simulated providers with real RPM/TPM
buckets and Groq-style x-ratelimit headers, on a compressed (injected) clock."""

from __future__ import annotations

import asyncio

import pytest
from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI, RateLimitError

from provider_fallback import Router
from provider_fallback.errors import AllProvidersFailedError
from provider_fallback.routing._queue import ClientDisconnectedError, QueueFullError

MODEL = "llama-3.3-70b-versatile"


class FakeClock:
    """Monotonic time shared by the sims' buckets and the router's ledger."""

    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def _statuses(sim, status: int) -> int:
    return sum(1 for r in sim.log if r.status == status)


async def test_three_times_the_rpm_for_a_minute_never_meets_a_429_after_remaining_zero():
    clock = FakeClock()
    async with sims_running({"name": "groq", "flavor": "groq", "models": [MODEL], "rpm": 10,
                             "clock": clock},
                            {"name": "backup", "models": ["b"]}) as (groq, backup):
        cfg = make_config({"groq": groq, "backup": backup}, {"fast": [f"groq/{MODEL}", "backup/b"]})
        async with Router(cfg, clock=clock, sleep=clock.sleep) as router:
            served: dict[str, int] = {"groq": 0, "backup": 0}
            for _ in range(60):                     # 3 x 10 RPM for two simulated minutes
                done = await router.chat(model="fast", **CHAT)
                served[done.provider] += 1
                if done.provider == "backup":      # groq skipped for its limit, not tried
                    assert done.attempts[0].provider == "backup"
                    assert "rate_limit: capacity back in" in done.skipped[0]
                else:
                    view = router.limits.view(cfg.chains["fast"].targets[0], clock())
                await clock.sleep(2.0)
    assert served["groq"] + served["backup"] == 60           # every request answered
    assert _statuses(groq, 429) == 0                          # the gateway never hit the limit
    assert served["groq"] == 20                               # and used all of it: 10 a minute
    assert view["rpm"]["source"] == "learned" and view["rpm"]["limit"] == 10


async def test_learned_token_limits_route_around_a_tpm_budget():
    clock = FakeClock()
    async with sims_running({"name": "groq", "flavor": "groq", "models": [MODEL], "tpm": 400,
                             "clock": clock},
                            {"name": "backup", "models": ["b"]}) as (groq, backup):
        cfg = make_config({"groq": groq, "backup": backup}, {"fast": [f"groq/{MODEL}", "backup/b"]})
        async with Router(cfg, clock=clock, sleep=clock.sleep) as router:
            providers = [(await router.chat(model="fast", max_tokens=100, **CHAT)).provider
                         for _ in range(8)]
    assert _statuses(groq, 429) == 0
    assert providers[0] == "groq" and "backup" in providers


async def test_configured_rpm_is_enforced_without_any_headers():
    clock = FakeClock()
    async with sims_running({"name": "a", "models": ["m"]}, {"name": "b", "models": ["m2"]}) as (a, b):
        cfg = make_config({"a": a, "b": b},
                          {"chat": [{"provider": "a", "model": "m", "limits": {"rpm": 3}}, "b/m2"]})
        async with Router(cfg, clock=clock, sleep=clock.sleep) as router:
            answered = [(await router.chat(model="chat", **CHAT)) for _ in range(5)]
    assert [r.provider for r in answered] == ["a", "a", "a", "b", "b"]
    assert a.count() == 3
    assert answered[3].skipped and "rate_limit: capacity back in" in answered[3].skipped[0]


async def test_every_target_limited_waits_in_the_queue_and_is_answered():
    clock = FakeClock()
    async with sims_running({"name": "groq", "flavor": "groq", "models": [MODEL], "rpm": 2,
                             "clock": clock}) as (groq,):
        cfg = make_config({"groq": groq}, {"fast": [f"groq/{MODEL}"]},
                          policy={"request_deadline": 120})
        records = []
        async with Router(cfg, clock=clock, sleep=clock.sleep) as router:
            router.requests.add(records.append)
            for pause in (0, 45, 0, 50):             # the 3rd comes 15 s before the reset
                await clock.sleep(pause)
                await router.chat(model="fast", **CHAT)
    assert groq.count() == 4 and _statuses(groq, 429) == 0
    assert [r.queue_ms > 0 for r in records] == [False, False, True, False]
    assert any("queued" in s for s in records[2].skipped)


async def test_wait_longer_than_max_wait_fails_fast_with_retry_after():
    clock = FakeClock()
    async with sims_running({"name": "groq", "flavor": "groq", "models": [MODEL], "rpm": 1,
                             "clock": clock}) as (groq,):
        cfg = make_config({"groq": groq}, {"fast": [f"groq/{MODEL}"]},
                          sections={"queue": {"max_wait": "5s"}})
        async with Router(cfg, clock=clock, sleep=clock.sleep) as router:
            await router.chat(model="fast", **CHAT)
            with pytest.raises(AllProvidersFailedError) as err:
                await router.chat(model="fast", **CHAT)
    assert groq.count() == 1                     # no attempt: the ledger knew
    assert err.value.retry_after == pytest.approx(60, abs=1.5)
    assert err.value.attempts == () and "rate_limit" in err.value.skipped[0]


async def test_full_queue_answers_429_with_retry_after_over_http():
    async with sims_running({"name": "groq", "flavor": "groq", "models": [MODEL],
                             "rpm": 1}) as (groq,):
        cfg = make_config({"groq": groq}, {"fast": [f"groq/{MODEL}"]},
                          policy={"request_deadline": 120},
                          sections={"queue": {"size": 0, "max_wait": "2m"}})
        async with gateway_running(cfg) as gw:
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            await client.chat.completions.create(model="fast", **CHAT)
            with pytest.raises(RateLimitError) as err:
                await client.chat.completions.create(model="fast", **CHAT)
            await client.close()
    assert err.value.status_code == 429
    assert int(err.value.response.headers["retry-after"]) >= 50
    assert err.value.body["code"] == "queue_full"
    assert groq.count() == 1


async def test_a_queued_request_whose_client_left_is_dropped():
    clock = FakeClock()
    async with sims_running({"name": "groq", "flavor": "groq", "models": [MODEL], "rpm": 1,
                             "clock": clock}) as (groq,):
        cfg = make_config({"groq": groq}, {"fast": [f"groq/{MODEL}"]},
                          policy={"request_deadline": 120}, sections={"queue": {"max_wait": "2m"}})
        async with Router(cfg, clock=clock) as router:
            await router.chat(model="fast", **CHAT)

            async def gone() -> None:
                return None

            with pytest.raises(ClientDisconnectedError):
                await router.request("/chat/completions", {"model": "fast", **CHAT},
                                     disconnected=gone)
            assert router.queue.depth() == 0
    assert groq.count() == 1


async def test_status_shows_remaining_requests_tokens_reset_and_queue():
    async with sims_running({"name": "groq", "flavor": "groq", "models": [MODEL], "rpm": 5,
                             "tpm": 10_000}) as (groq,):
        cfg = make_config({"groq": groq}, {"fast": [f"groq/{MODEL}"]})
        async with gateway_running(cfg) as gw:
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            await client.chat.completions.create(model="fast", **CHAT)
            await client.close()
            status = gw.router.status()
    limits = status["providers"]["groq"]["targets"][f"groq/{MODEL}"]["limits"]
    assert limits["rpm"]["remaining"] == 4 and limits["rpm"]["limit"] == 5
    assert 0 < limits["rpm"]["reset_in_s"] <= 60
    assert limits["tpm"]["limit"] == 10_000 and limits["tpm"]["remaining"] < 10_000
    assert status["queue"]["depth"] == 0 and status["queue"]["size"] == 1000
    assert status["budget"]["status"] == "OK"


def test_queue_full_error_is_a_registry_code():
    err = QueueFullError("fast", 0, 3.0)
    assert err.code == "queue_full" and err.http_status == 429 and err.retry_after == 3.0


async def test_providers_cli_shows_headroom_and_queue(monkeypatch):
    from typer.testing import CliRunner

    from provider_fallback.cli import app

    monkeypatch.setenv("COLUMNS", "200")
    async with sims_running({"name": "groq", "flavor": "groq", "models": [MODEL], "rpm": 5,
                             "tpm": 10_000}) as (groq,):
        cfg = make_config({"groq": groq}, {"fast": [f"groq/{MODEL}"]})
        async with gateway_running(cfg) as gw:
            await gw.router.chat(model="fast", **CHAT)
            res = await asyncio.to_thread(CliRunner().invoke, app,
                                          ["providers", "--url", gw.base_url])
    assert res.exit_code == 0, res.output
    assert "rate limits" in res.output and "4/5*" in res.output
    assert "wait queue: 0/1000" in res.output and "budget: OK" in res.output
