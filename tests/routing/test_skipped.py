"""Say what was skipped: every target passed over, with its reason code, in the response
header, the all_providers_failed body, the request log and the report; and the context-length
fall-over tries targets whose size is unknown."""

from __future__ import annotations

import asyncio

import aiohttp
from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI

from provider_fallback import Router
from provider_fallback.sim import Fault
from provider_fallback.telemetry import TelemetryStore, outage_report

A = {"name": "a", "models": ["m"]}
B = {"name": "b", "models": ["m"]}
C = {"name": "c", "models": ["m"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _open(router: Router, key: str, code: str = "service_unavailable") -> None:
    """Open `key`'s circuit the way the request path does: admitted attempts that failed."""
    from provider_fallback.errors import Failure, spec
    from provider_fallback.health import Admission, Outcome

    target = next(t for t in router.config.chains["chat"].targets if t.key == key)
    for _ in range(3):
        admission = await router.health.admit(target, router._clock(), 5.0)
        if not isinstance(admission, Admission):
            break
        router.health.report(admission, Outcome(False, Failure(spec(code), "x", "m")),
                             router._clock(), alternatives=True)
    assert router.health.blocked(target, router._clock()) is not None


async def test_skipped_reasons_reach_the_header_body_and_request_log(tmp_path):
    async with sims_running(A, B, C) as (a, b, c):
        cfg = make_config({"a": a, "b": b, "c": c}, {"chat": ["a/m", "b/m", "c/m"]},
                          sections={"budget": {"data_dir": str(tmp_path)}})
        async with gateway_running(cfg) as gw:
            router = gw.router
            records = []
            router.requests.add(records.append)
            await _open(router, "a/m")
            router.health.disable("b")
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            raw = await client.chat.completions.with_raw_response.create(model="chat", **CHAT)
            skipped = raw.headers["x-provider-fallback-skipped"]
            assert raw.headers["x-provider-fallback-provider"] == "c"
            assert "a/m: circuit_open" in skipped and "b/m: disabled" in skipped
            assert records[-1].skipped[0].startswith("a/m: circuit_open: service_unavailable, ")
            assert records[-1].skipped[0].endswith("s left")
            assert records[-1].skipped[1] == "b/m: disabled"
            # nothing left: the 503 body lists every target passed over
            c.set_fault(Fault(status=503))
            async with aiohttp.ClientSession() as s, \
                    s.post(gw.url + "/chat/completions", json={"model": "chat", **CHAT}) as r:
                body = await r.json()
            await client.close()
    err = body["error"]
    assert r.status == 503 and err["code"] == "all_providers_failed"
    assert [x["provider"] for x in err["attempts"]] == ["c"]
    assert any(s.startswith("a/m: circuit_open") for s in err["skipped"])
    assert any(s.startswith("b/m: disabled") for s in err["skipped"])
    assert "a/m: circuit_open" in err["message"]


async def test_a_target_whose_trial_is_taken_is_skipped_as_trial_in_flight():
    clock = Clock()
    async with sims_running(A, B) as (a, b):
        cfg = make_config({"a": a, "b": b}, {"chat": ["a/m", "b/m"]})
        async with Router(cfg, clock=clock) as router:
            await _open(router, "a/m")
            clock.now += 3600                  # the open period is over: the next one is the trial
            a.set_fault(Fault(latency=0.5))
            trial = asyncio.ensure_future(router.chat(model="chat", **CHAT))
            await asyncio.sleep(0.1)
            other = await router.chat(model="chat", **CHAT)
            first = await trial
    assert first.provider == "a" and "half-open trial" in first.attempts[0].note
    assert other.provider == "b"
    assert other.skipped and other.skipped[0].startswith("a/m: trial_in_flight")


async def test_rate_limit_and_budget_reasons_have_their_codes(tmp_path):
    async with sims_running(A, B) as (a, b):
        chain = [{"provider": "a", "model": "m", "limits": {"rpm": 1},
                  "price": {"input": 1e6, "output": 1e6}}, {"provider": "b", "model": "m",
                                                             "free": True}]
        cfg = make_config({"a": a, "b": b}, {"chat": chain},
                          sections={"budget": {"monthly_usd": 1000, "data_dir": str(tmp_path)}})
        async with Router(cfg) as router:
            first = await router.chat(model="chat", **CHAT)
            second = await router.chat(model="chat", **CHAT)
            router.accounting.budget.charge(router.config.chains["chat"].targets[0], 10**6, 10**6)
            third = await router.chat(model="chat", **CHAT)
    assert first.provider == "a"
    assert second.provider == "b" and second.skipped[0].startswith("a/m: rate_limit: capacity back in")
    assert third.provider == "b" and third.skipped[0].startswith("a/m: budget_exceeded")


async def test_context_length_tries_targets_of_unknown_size_and_skips_smaller_known_ones():
    ctx = Fault(status=400, code="context_length_exceeded",
                message="This model's maximum context length is 8192 tokens")
    async with sims_running(A, B, C) as (a, b, c):
        a.set_fault(ctx)
        # no sizes declared anywhere: the next target may be larger, so it is tried
        cfg = make_config({"a": a, "b": b}, {"chat": ["a/m", "b/m"]})
        async with Router(cfg) as router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "b"
        assert [x.code for x in res.attempts] == ["context_length_exceeded", "ok"]
        # a known 8k failed: another known 8k is skipped, the unknown one is tried
        chain = [{"provider": "a", "model": "m", "context": 8192},
                 {"provider": "b", "model": "m", "context": 8192}, "c/m"]
        cfg = make_config({"a": a, "b": b, "c": c}, {"chat": chain})
        async with Router(cfg) as router:
            res = await router.chat(model="chat", **CHAT)
        assert res.provider == "c" and b.count() == 1     # b only in the first router
        assert res.skipped == ("b/m: context_too_small: context 8192 <= 8192",)


async def test_the_report_attributes_each_answer_to_the_target_that_answered(tmp_path):
    async with sims_running(A, B) as (a, b):
        cfg = make_config({"a": a, "b": b}, {"chat": ["a/m", "b/m"]},
                          sections={"telemetry": {"log_dir": str(tmp_path)},
                                    "budget": {"data_dir": str(tmp_path)}})
        async with gateway_running(cfg) as gw:
            await _open(gw.router, "a/m")
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            for _ in range(3):
                await client.chat.completions.create(model="chat", **CHAT)
            await client.close()
            await asyncio.sleep(0.6)           # the writer flushes every 250 ms
    store = TelemetryStore(tmp_path / "telemetry.sqlite3", readonly=True)
    rows = store.requests()
    report = outage_report(store.events(), rows, since=0, until=2e9, source="test")
    store.close()
    assert [r["provider"] for r in rows] == ["b", "b", "b"]
    assert all(r["skipped"] and r["skipped"][0].startswith("a/m: circuit_open") for r in rows)
    assert "| b/m | 3 |" in report
    assert "3 answered (3 after a fall-over)" in report


async def test_an_open_period_that_runs_out_while_the_plan_looks_is_read_again():
    """The plan reuses the blocks `order` read for the targets before the first it hands
    out, but only while they still stand: one that ran out meanwhile is looked at again."""
    clock = Clock()
    async with sims_running(A, B) as (a, b):
        cfg = make_config({"a": a, "b": b}, {"chat": ["a/m", "b/m"]})
        async with Router(cfg, clock=clock) as router:
            await _open(router, "a/m")
            still = await router.chat(model="chat", **CHAT)
            order = router.health.order
            target = router.config.chains["chat"].targets[0]

            def order_then_later(chain, now):
                out = order(chain, now)
                block = router.health.blocked(target, clock.now)
                assert block is not None
                clock.now = block.until + 0.5   # it ends between the look and the check
                return out
            router.health.order = order_then_later
            trial = await router.chat(model="chat", **CHAT)
    assert still.provider == "b" and still.skipped[0].startswith("a/m: circuit_open")
    assert trial.provider == "a" and "half-open trial" in trial.attempts[0].note
    assert not trial.skipped


async def test_a_target_blocked_during_an_earlier_attempt_is_skipped():
    """Once a target has been tried, the next ones are looked at afresh: a block that came
    up during the attempt holds (not the state `order` saw before it)."""
    async with sims_running(A, B, C) as (a, b, c):
        cfg = make_config({"a": a, "b": b, "c": c}, {"chat": ["a/m", "b/m", "c/m"]})
        async with Router(cfg) as router:
            admit = router.health.admit

            async def admit_and_disable_b(target, now, lease, **kw):
                out = await admit(target, now, lease, **kw)
                if target.key == "a/m":
                    router.health.disable("b")
                return out
            router.health.admit = admit_and_disable_b
            a.set_fault(Fault(status=503))
            answer = await router.chat(model="chat", **CHAT)
    assert answer.provider == "c"
    assert [x.provider for x in answer.attempts][0] == "a"
    assert "b" not in [x.provider for x in answer.attempts]
    assert "b/m: disabled" in answer.skipped
