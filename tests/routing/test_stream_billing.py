"""Every stream counted: priced, charged to the budget, in the rate ledger and the request
log exactly like a non-stream; estimated (and marked so) when the upstream sends no usage."""

from __future__ import annotations

import pytest
from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI

from provider_fallback.sim import Fault

# $100,000 per 1M tokens: a handful of small answers cross a $1 budget
PAID = {"provider": "paid", "model": "big", "price": {"input": 100_000, "output": 100_000},
        "limits": {"tpm": 1_000_000}}
FREE = {"provider": "free", "model": "small:free", "free": True}
REPLY = "one two three four five six seven eight nine ten eleven twelve"


@pytest.mark.parametrize("upstream_usage", [True, False], ids=["usage-sent", "no-usage"])
async def test_streamed_traffic_alone_trips_the_kill_switch(tmp_path, upstream_usage):
    async with sims_running({"name": "paid", "models": ["big"], "reply": REPLY,
                             "stream_usage": upstream_usage, "keep_bodies": True},
                            {"name": "free", "models": ["small:free"]}) as (paid, free):
        cfg = make_config({"paid": paid, "free": free}, {"chat": [PAID, FREE]},
                          sections={"budget": {"monthly_usd": 1, "data_dir": str(tmp_path)}})
        records = []
        async with gateway_running(cfg) as gw:
            gw.router.requests.add(records.append)
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            served = []
            for _ in range(6):
                stream = await client.chat.completions.create(model="chat", stream=True, **CHAT)
                chunks = [c async for c in stream]
                served.append(chunks[0].model)
                assert not [c for c in chunks if c.usage is not None]   # not asked: not sent
            await client.close()
            budget = gw.router.status()["budget"]
            limits = gw.router.status()["providers"]["paid"]["targets"]["paid/big"]["limits"]
    # the gateway asked the upstream for usage on its own
    assert all(r.body["stream_options"] == {"include_usage": True} for r in paid.log)
    assert budget["status"] == "EXCEEDED" and budget["kill_switch"] is True
    first_free = served.index("small:free")
    assert first_free >= 1 and set(served[first_free:]) == {"small:free"}
    paid_records = [r for r in records if r.provider == "paid"]
    assert paid_records and all(r.cost_usd and r.cost_usd > 0 for r in paid_records)
    assert all(r.prompt_tokens and r.completion_tokens for r in paid_records)
    assert all(r.usage_estimated is (not upstream_usage) for r in paid_records)
    # the rate ledger counted the streams' real (or estimated) tokens
    assert limits["tpm"]["used"] >= sum(r.prompt_tokens + r.completion_tokens
                                        for r in paid_records)


async def test_a_target_that_rejects_stream_options_is_learned_off_and_estimated(tmp_path):
    async with sims_running({"name": "paid", "models": ["big"], "reply": REPLY,
                             "reject_stream_options": True, "keep_bodies": True},
                            {"name": "free", "models": ["small:free"]}) as (paid, free):
        cfg = make_config({"paid": paid, "free": free}, {"chat": [PAID, FREE]},
                          sections={"budget": {"data_dir": str(tmp_path)}})
        records = []
        async with gateway_running(cfg) as gw:
            gw.router.requests.add(records.append)
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            for _ in range(2):
                stream = await client.chat.completions.create(model="chat", stream=True, **CHAT)
                text = "".join([c.choices[0].delta.content or "" async for c in stream
                                if c.choices])
                assert text == REPLY
            await client.close()
    assert [r.status for r in paid.log] == [400, 200, 200]   # learned once, then left out
    assert all(r.provider == "paid" and r.usage_estimated and r.cost_usd for r in records)
    assert "stream_options" in paid.log[0].body and "stream_options" not in paid.log[-1].body


async def test_a_client_asking_for_usage_gets_one_usage_chunk_with_the_real_count(tmp_path):
    async with sims_running({"name": "paid", "models": ["big"], "reply": REPLY},
                            {"name": "free", "models": ["small:free"]}) as (paid, free):
        cfg = make_config({"paid": paid, "free": free}, {"chat": [PAID, FREE]},
                          sections={"budget": {"data_dir": str(tmp_path)}})
        records = []
        async with gateway_running(cfg) as gw:
            gw.router.requests.add(records.append)
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            stream = await client.chat.completions.create(
                model="chat", stream=True, stream_options={"include_usage": True}, **CHAT)
            chunks = [c async for c in stream]
            await client.close()
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and chunks[-1].usage is not None and chunks[-1].choices == []
    assert usage[0].completion_tokens == len(REPLY) // 4      # the sim's own count
    assert records[-1].usage_estimated is False
    assert records[-1].completion_tokens == usage[0].completion_tokens


async def test_a_stream_broken_after_content_is_billed_for_what_it_delivered(tmp_path):
    async with sims_running({"name": "paid", "models": ["big"], "reply": REPLY, "chunk_count": 0},
                            {"name": "free", "models": ["small:free"], "reply": REPLY,
                             "chunk_count": 0}) as (paid, free):
        paid.set_fault(Fault(cut_after=6))
        cfg = make_config({"paid": paid, "free": free}, {"chat": [PAID, FREE]},
                          sections={"budget": {"data_dir": str(tmp_path)}})
        records = []
        async with gateway_running(cfg) as gw:
            gw.router.requests.add(records.append)
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            stream = await client.chat.completions.create(model="chat", stream=True, **CHAT)
            text = "".join([c.choices[0].delta.content or "" async for c in stream
                            if c.choices])
            await client.close()
            spend = gw.router.status()["budget"]
    assert text == REPLY
    rec = records[-1]
    assert rec.continuations == 1 and rec.provider == "free"
    assert rec.cost_usd and rec.cost_usd > 0          # the paid part, estimated
    assert rec.usage_estimated is True
    assert spend["spend_month_usd"] == pytest.approx(rec.cost_usd)
