"""Continuation as the official openai client sees it, sync and async, text and tool calls."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import openai
import pytest
from gateway_harness import gateway_running, make_config, sims_running

from provider_fallback.sim import Fault

REPLY = "Sure. Here is the plan: read the file, find the bug, fix it and run the tests again."
ARGS = '{"path": "src/app.py", "old": "x = 1", "new": "x = 2"}'
TOOLS = [{"type": "function", "function": {"name": "apply_edit", "description": "edit a file",
                                           "parameters": {"type": "object", "properties": {}}}}]
MSG = [{"role": "user", "content": "fix it"}]


@pytest.fixture
async def env():
    common = {"chunk_count": 0, "reply": REPLY, "tool_args": ARGS, "tool_chunks": 5}
    async with sims_running({"name": "primary", "models": ["m1"], **common},
                            {"name": "backup", "models": ["b1"], "prefill": False,
                             **common}) as (p, b):
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m1", "backup/b1"]},
                          policy={"stall_timeout": 0.3})
        async with gateway_running(cfg) as gw:
            yield p, b, gw


async def test_async_client_gets_the_whole_text_after_a_cut(env):
    p, b, gw = env
    p.set_fault(Fault(cut_after=7))
    client = openai.AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
    stream = await client.chat.completions.create(model="chat", messages=MSG, stream=True)
    text, finishes, ids = "", [], set()
    async for chunk in stream:
        ids.add(chunk.id)
        for c in chunk.choices:
            text += c.delta.content or ""
            if c.finish_reason:
                finishes.append(c.finish_reason)
    await client.close()
    assert text == REPLY and finishes == ["stop"] and len(ids) == 1
    async with aiohttp.ClientSession() as http, http.get(gw.base_url + "/metrics") as r:
        metrics = await r.text()
    assert ('provider_fallback_stream_continuations_total{from_provider="primary",'
            'strategy="restart",to_provider="backup"} 1.0') in metrics
    assert 'provider_fallback_usage_estimated_total{model="b1",provider="backup"} 1.0' in metrics


async def test_sync_client_gets_one_complete_tool_call_after_a_stall(env):
    p, b, gw = env
    p.set_fault(Fault(stall_after=3))            # in the middle of the arguments

    def run() -> tuple[list, list]:
        client = openai.OpenAI(base_url=gw.url, api_key="unused", max_retries=0)
        calls: dict[int, dict] = {}
        finishes = []
        for chunk in client.chat.completions.create(model="chat", messages=MSG, tools=TOOLS,
                                                    stream=True):
            for c in chunk.choices:
                for tc in c.delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, {"id": None, "name": "", "args": ""})
                    slot["id"] = slot["id"] or tc.id
                    if tc.function and tc.function.name:
                        slot["name"] += tc.function.name
                    if tc.function and tc.function.arguments:
                        slot["args"] += tc.function.arguments
                if c.finish_reason:
                    finishes.append(c.finish_reason)
        client.close()
        return list(calls.values()), finishes

    calls, finishes = await asyncio.to_thread(run)
    assert finishes == ["tool_calls"]
    assert len(calls) == 1 and calls[0]["name"] == "apply_edit" and calls[0]["id"]
    assert json.loads(calls[0]["args"]) == json.loads(ARGS)


async def test_sync_client_non_streaming_is_unaffected(env):
    p, b, gw = env

    def run() -> str:
        client = openai.OpenAI(base_url=gw.url, api_key="unused", max_retries=0)
        out = client.chat.completions.create(model="chat", messages=MSG).choices[0].message.content
        client.close()
        return out or ""

    assert await asyncio.to_thread(run) == REPLY
