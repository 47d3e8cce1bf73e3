"""Every request ends in exactly one RequestRecord (what metrics and the request log read)."""

from __future__ import annotations

import asyncio

import pytest
from gateway_harness import CHAT, make_config, sims_running

from provider_fallback import AllProvidersFailedError, Router
from provider_fallback.sim import Fault

SIMS = ({"name": "primary", "models": ["m"]}, {"name": "backup", "models": ["m"]})


async def test_records_for_answers_failures_and_streams():
    async with sims_running(*SIMS) as (p, b):
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m", "backup/m"]})
        async with Router(cfg) as router:
            seen = []
            router.requests.add(seen.append)
            p.set_fault(Fault(status=503))
            res = await router.chat(model="chat", **CHAT)
            assert res.request_id and seen[-1].request_id == res.request_id
            rec = seen[-1]
            assert (rec.outcome, rec.provider, rec.alias, rec.endpoint) == ("ok", "backup", "chat", "chat")
            assert [a.code for a in rec.attempts] == ["service_unavailable", "ok"]
            assert rec.prompt_tokens and rec.completion_tokens
            assert rec.latency_ms >= rec.upstream_ms > 0 and rec.overhead_ms >= 0

            b.set_fault(Fault(status=503))
            with pytest.raises(AllProvidersFailedError):
                await router.chat(model="chat", **CHAT)
            assert seen[-1].outcome == "all_providers_failed" and seen[-1].http_status == 503
            # the primary's first 503 opened its circuit (the backup could serve then)
            assert [a.provider for a in seen[-1].attempts] == ["backup"]

            p.set_fault(None)
            b.set_fault(None)
            stream = await router.chat_stream(model="chat", stream_options={"include_usage": True}, **CHAT)
            n = len(seen)
            chunks = [c async for c in stream]
            assert chunks and len(seen) == n + 1
            assert seen[-1].stream and seen[-1].outcome == "ok" and seen[-1].ttft_ms is not None

            stream = await router.chat_stream(model="chat", **CHAT)
            await stream.aclose()                  # abandoned by the client
            assert seen[-1].outcome == "client_disconnected"
            assert router.inflight == 0
            assert "content" not in seen[-1].as_dict()   # no prompt text by default



async def test_deferred_bookkeeping_of_answers_in_one_loop_step(caplog):
    # the gateway defers each answer's bookkeeping to the end of the loop step; answers of
    # one step are settled by one callback, and one whose bookkeeping fails loses none of
    # the others
    async with sims_running(*SIMS) as (p, b):
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m", "backup/m"]})
        async with Router(cfg) as router:
            seen = []
            router.requests.add(seen.append)
            settle, calls = router._answered, []

            def first_one_breaks(route, answer, t0):
                calls.append(answer.request_id)
                if len(calls) == 1:
                    raise RuntimeError("bookkeeping broke")
                settle(route, answer, t0)
            router._answered = first_one_breaks
            answers = await asyncio.gather(*(router.request(
                "/chat/completions", {"model": "chat", **CHAT}, defer_bookkeeping=True)
                for _ in range(4)))
            for _ in range(3):
                await asyncio.sleep(0)
            assert sorted(calls) == sorted(a.request_id for a in answers)
            assert {r.request_id for r in seen} == set(calls[1:])
            assert f"bookkeeping of request {calls[0]} failed" in caplog.text
            assert not router._deferred
