"""The library API: async streaming, the sync facade, embeddings, stream breakage."""

from __future__ import annotations

import asyncio

import pytest
from gateway_harness import CHAT, make_config, sims_running

from provider_fallback import Router, StreamInterruptedError, SyncRouter
from provider_fallback.sim import Fault

P = {"name": "p", "models": ["m", "emb"], "chunk_count": 4}
B = {"name": "b", "models": ["n"]}


async def test_chat_stream_falls_over_before_content_and_yields_chunks():
    async with sims_running(P, B) as (p, b):
        p.set_fault(Fault(cut_after=0))
        cfg = make_config({"p": p, "b": b}, {"chat": ["p/m", "b/n"]})
        async with Router(cfg) as router:
            stream = await router.chat_stream(model="chat", **CHAT)
            assert stream.provider == "b" and [a.code for a in stream.attempts] == ["stream_cut", "ok"]
            text = "".join([(c["choices"][0]["delta"].get("content") or "")
                            async for c in stream if c.get("choices")])
        assert "b/n" in text


async def test_chat_stream_breaking_after_content_raises_without_continuation():
    async with sims_running(P, B) as (p, b):
        p.set_fault(Fault(cut_after=2))
        cfg = make_config({"p": p, "b": b},
                          {"chat": {"targets": ["p/m", "b/n"], "continuation": False}})
        async with Router(cfg) as router:
            stream = await router.chat_stream(model="chat", **CHAT)
            got = []
            with pytest.raises(StreamInterruptedError) as ei:
                async for chunk in stream:
                    got.append(chunk)
        assert got and ei.value.code == "stream_cut" and ei.value.provider == "p"


async def test_sync_router_chat_stream_and_embeddings():
    async with sims_running(P, B) as (p, b):
        cfg = make_config({"p": p, "b": b}, {"chat": ["p/m", "b/n"], "embed": ["p/emb"]})

        def run() -> None:
            with SyncRouter(cfg) as router:
                res = router.chat(model="chat", **CHAT)
                assert res.provider == "p" and res.usage and res.usage["total_tokens"] > 0
                chunks = list(router.chat_stream(model="chat", **CHAT))
                assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
                emb = router.embeddings(model="embed", input=["x"])
                assert emb.body["data"][0]["embedding"]
                assert router.status()["providers"]["p"]["targets"]["p/m"]["successes"] == 2
                assert router.status()["budget"]["status"] == "OK"   # started: spend is tracked

        await asyncio.to_thread(run)


async def test_unknown_fields_pass_through_untouched():
    async with sims_running({**P, "keep_bodies": True}) as (p,):
        cfg = make_config({"p": p}, {"chat": ["p/m"]})
        async with Router(cfg) as router:
            await router.chat(model="chat", **CHAT, temperature=0.2, x_vendor={"a": [1, 2]},
                              tools=[{"type": "function", "function": {"name": "f"}}])
        sent = p.log[-1].body
        assert sent["model"] == "m" and sent["x_vendor"] == {"a": [1, 2]} and sent["temperature"] == 0.2
        assert sent["tools"][0]["function"]["name"] == "f"
