"""The official openai client, sync and async, against the running gateway."""

from __future__ import annotations

import asyncio

import openai
import pytest
from gateway_harness import gateway_running, make_config, sims_running

from provider_fallback.sim import Fault

PRIMARY = {"name": "primary", "models": ["m1"], "flavor": "groq"}
BACKUP = {"name": "backup", "models": ["b1", "emb"], "flavor": "openai"}
MSG = [{"role": "user", "content": "hello"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                           "parameters": {"type": "object", "properties": {}}}}]


@pytest.fixture
async def env():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        cfg = make_config({"primary": p, "backup": b},
                          {"chat": ["primary/m1", "backup/b1"], "embed": ["backup/emb"]})
        async with gateway_running(cfg) as gw:
            yield p, b, gw


async def test_async_client_falls_over_and_reports_actual_model(env):
    p, b, gw = env
    p.set_fault(Fault(status=503))
    client = openai.AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
    raw = await client.chat.completions.with_raw_response.create(model="chat", messages=MSG)
    res = raw.parse()
    assert res.model == "b1" and res.usage is not None and res.usage.total_tokens > 0
    assert raw.headers["x-provider-fallback-provider"] == "backup"
    assert raw.headers["x-provider-fallback-attempts"] == "2"
    await client.close()


async def test_async_streaming_and_tools(env):
    p, b, gw = env
    client = openai.AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
    stream = await client.chat.completions.create(model="chat", messages=MSG, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert "primary" in text
    res = await client.chat.completions.create(model="chat", messages=MSG, tools=TOOLS,
                                               tool_choice="auto", extra_body={"x_custom": 1})
    assert res.choices[0].finish_reason == "tool_calls"
    assert res.choices[0].message.tool_calls[0].function.name == "get_weather"
    await client.close()


async def test_sync_client_chat_stream_embeddings_models(env):
    p, b, gw = env

    def run() -> None:
        client = openai.OpenAI(base_url=gw.url, api_key="unused", max_retries=0)
        res = client.chat.completions.create(model="chat", messages=MSG)
        assert res.choices[0].message.content
        chunks = list(client.chat.completions.create(model="chat", messages=MSG, stream=True))
        assert chunks and chunks[-1].choices[0].finish_reason == "stop"
        emb = client.embeddings.create(model="embed", input=["a", "b"])
        assert len(emb.data) == 2 and emb.data[0].embedding
        ids = [m.id for m in client.models.list()]
        assert ids == ["chat", "embed"]
        client.close()

    await asyncio.to_thread(run)


async def test_errors_map_to_openai_exceptions(env):
    p, b, gw = env
    client = openai.AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as nf:
        await client.chat.completions.create(model="nope", messages=MSG)
    assert nf.value.body["code"] == "model_not_found"
    p.set_fault(Fault(status=503))
    b.set_fault(Fault(status=502))
    with pytest.raises(openai.InternalServerError) as ei:
        await client.chat.completions.create(model="chat", messages=MSG)
    assert ei.value.status_code == 503
    assert ei.value.body["code"] == "all_providers_failed"
    assert len(ei.value.body["attempts"]) == 2
    await client.close()


async def test_stream_broken_midway_is_continued_for_the_openai_client(env):
    """Cut after "Hello from": the backup's answer goes on from there (prefill)."""
    p, b, gw = env
    p.set_fault(Fault(cut_after=2))
    client = openai.AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
    stream = await client.chat.completions.create(model="chat", messages=MSG, stream=True)
    parts, finish = [], []
    async for chunk in stream:
        parts += [c.delta.content or "" for c in chunk.choices]
        finish += [c.finish_reason for c in chunk.choices if c.finish_reason]
    assert "".join(parts) == "Hello from backup/b1." and finish == ["stop"]
    await client.close()


async def test_stream_that_cannot_be_continued_raises_in_openai_client(env):
    """Cut after "Hello from prim": the backup starts its own, other answer: in-band error."""
    p, b, gw = env
    p.set_fault(Fault(cut_after=3))
    client = openai.AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
    stream = await client.chat.completions.create(model="chat", messages=MSG, stream=True)
    with pytest.raises(openai.APIError) as ei:
        async for _ in stream:
            pass
    assert "continuation_diverged" in str(ei.value.body) or "closed" in str(ei.value)
    await client.close()
