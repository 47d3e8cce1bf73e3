"""Every request ends in exactly one RequestRecord (what metrics and the request log read)."""

from __future__ import annotations

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
