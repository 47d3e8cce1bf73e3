"""Anthropic-native targets (`api: anthropic`) through the one attempt loop: chat clients
fall over from a dead OpenAI-compatible primary to the Messages-speaking sim (the dialect
translates both ways), Messages clients reach it with their own request, and an Anthropic
target that fails or rate-limits hands over to an OpenAI-compatible one."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from gateway_harness import gateway_running, make_config, sims_running

from provider_fallback.sim import Fault, SimReply, ToolCall

OPENAI_SIM = {"name": "openai", "models": ["o1"], "keep_bodies": True}
CLAUDE_SIM = {"name": "claude", "models": ["claude-x"], "flavor": "anthropic",
              "api_key": "sk-ant-sim", "keep_bodies": True}
HI = [{"role": "user", "content": "hello"}]
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def config(sims, chain):
    return make_config(sims, {"chat": chain},
                       providers={"claude": {"api": "anthropic", "api_key": "os.environ/AK"}},
                       environ={"AK": "sk-ant-sim"})


@pytest.fixture
async def dead_openai_then_claude():
    async with sims_running(OPENAI_SIM, CLAUDE_SIM) as (o, c):
        await o.close_listener()
        async with gateway_running(config({"openai": o, "claude": c},
                                          ["openai/o1", "claude/claude-x"])) as gw:
            yield o, c, gw


async def test_chat_completions_fall_over_to_an_anthropic_native_target(dead_openai_then_claude):
    o, c, gw = dead_openai_then_claude
    async with openai.AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "system", "content": "be brief"}, *HI],
            max_tokens=50)
        res = raw.parse()
        stream = await client.chat.completions.create(
            model="chat", messages=HI, stream=True, stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
    assert raw.headers["x-provider-fallback-provider"] == "claude"
    assert raw.headers["x-provider-fallback-route"].startswith("openai/o1=connection_refused")
    assert res.choices[0].message.content == "Hello from claude/claude-x."
    assert res.choices[0].finish_reason == "stop" and res.usage.prompt_tokens > 0
    sent = c.log[0]
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == "sk-ant-sim"
    assert sent.body["system"] == "be brief" and sent.body["max_tokens"] == 50
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "Hello from claude/claude-x."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls_and_results_through_the_anthropic_dialect(dead_openai_then_claude,
                                                                    stream):
    o, c, gw = dead_openai_then_claude

    def script(body):
        last = body["messages"][-1]["content"]
        if isinstance(last, list) and last and last[0].get("type") == "tool_result":
            return SimReply(text="It is sunny.")
        return SimReply(tool_calls=(ToolCall("get_weather", {"city": "Oslo"}, "toolu_9"),))

    c.responder = script
    async with openai.AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0) as client:
        async def ask(messages):
            if not stream:
                return (await client.chat.completions.create(
                    model="chat", messages=messages, tools=[TOOL])).choices[0].message
            calls: dict[int, dict] = {}
            text = ""
            async for chunk in await client.chat.completions.create(
                    model="chat", messages=messages, tools=[TOOL], stream=True):
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    for call in choice.delta.tool_calls or ():
                        entry = calls.setdefault(call.index, {"id": call.id, "args": ""})
                        entry["name"] = entry.get("name") or call.function.name
                        entry["args"] += call.function.arguments or ""
            return text, calls

        first = await ask(HI)
        if stream:
            _, calls = first
            assert calls[0]["id"] == "toolu_9" and calls[0]["name"] == "get_weather"
            assert json.loads(calls[0]["args"]) == {"city": "Oslo"}
        else:
            assert first.tool_calls[0].id == "toolu_9"
            assert json.loads(first.tool_calls[0].function.arguments) == {"city": "Oslo"}
        followup = [*HI, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_9", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
                    {"role": "tool", "tool_call_id": "toolu_9", "content": "sunny"}]
        second = await ask(followup)
    assert (second[0] if stream else second.content) == "It is sunny."
    sent = c.log[-1].body["messages"]
    assert sent[1]["content"][0] == {"type": "tool_use", "id": "toolu_9", "name": "get_weather",
                                     "input": {"city": "Oslo"}}
    assert sent[2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9",
                                                    "content": [{"type": "text", "text": "sunny"}]}]}


async def test_a_messages_client_reaches_an_anthropic_target_with_its_own_request():
    async with sims_running(CLAUDE_SIM, OPENAI_SIM) as (c, o):
        async with gateway_running(config({"claude": c, "openai": o},
                                          ["claude/claude-x", "openai/o1"])) as gw:
            async with anthropic.AsyncAnthropic(base_url=gw.base_url, api_key="unused",
                                                max_retries=0) as client:
                request = {"model": "chat", "max_tokens": 3000, "messages": HI,
                           "system": [{"type": "text", "text": "sys",
                                       "cache_control": {"type": "ephemeral"}}],
                           "thinking": {"type": "enabled", "budget_tokens": 1024}}
                answer = await client.beta.messages.create(
                    **request, betas=["interleaved-thinking-2025-05-14"],
                    context_management={"edits": [{"type": "clear_thinking_20251015",
                                                   "keep": "all"}]})
                async with client.messages.stream(**request) as s:
                    streamed = await s.get_final_message()
    sent = c.log[0]
    assert sent.body["system"][0]["cache_control"] == {"type": "ephemeral"}   # as it came
    assert sent.body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent.body["context_management"]["edits"][0]["type"] == "clear_thinking_20251015"
    assert sent.body["model"] == "claude-x"
    assert "interleaved-thinking-2025-05-14" in sent.headers["anthropic-beta"]
    for message in (answer, streamed):
        assert [b.type for b in message.content] == ["thinking", "text"]
        assert message.content[0].signature == "sig-sim-1"   # survives the round trip
        assert message.content[1].text == "Hello from claude/claude-x."
    assert o.count() == 0


@pytest.mark.parametrize("fault", [Fault(status=529), Fault(status=429, retry_after=30),
                                   Fault(cut_after=0)])
async def test_an_anthropic_target_failing_falls_over_to_an_openai_one(fault):
    async with sims_running(CLAUDE_SIM, OPENAI_SIM) as (c, o):
        c.set_fault(fault)
        async with gateway_running(config({"claude": c, "openai": o},
                                          ["claude/claude-x", "openai/o1"])) as gw:
            async with anthropic.AsyncAnthropic(base_url=gw.base_url, api_key="unused",
                                                max_retries=0) as client:
                async with client.messages.stream(model="chat", max_tokens=64,
                                                  messages=HI) as s:
                    final = await s.get_final_message()
            route = gw.router.status()
    assert final.content[0].text == "Hello from openai/o1." and final.model == "o1"
    assert c.count() == 1 and o.count() == 1 and c.log[0].path == "/v1/messages"
    assert route["providers"]["claude"]["targets"]["claude/claude-x"]["last_code"] in (
        "overloaded", "rate_limit", "stream_cut")


async def test_anthropic_rate_limit_headers_keep_requests_away_before_a_429():
    async with sims_running({**CLAUDE_SIM, "rpm": 2}, OPENAI_SIM) as (c, o):
        async with gateway_running(config({"claude": c, "openai": o},
                                          ["claude/claude-x", "openai/o1"])) as gw:
            async with openai.AsyncOpenAI(base_url=gw.url, api_key="unused",
                                          max_retries=0) as client:
                served = [(await client.chat.completions.with_raw_response.create(
                    model="chat", messages=HI)).headers["x-provider-fallback-provider"]
                    for _ in range(3)]
    assert served == ["claude", "claude", "openai"]
    # the third was never sent (no 429): anthropic-ratelimit-requests-remaining said 0
    assert [(r.path, r.status) for r in c.log] == [("/v1/messages", 200)] * 2
