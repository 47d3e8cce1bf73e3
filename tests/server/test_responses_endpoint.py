"""The official openai SDK's `responses` API against the gateway, through a chain whose
primary is dead and whose fallback is an OpenAI-compatible sim: answers, streams, function
calls and their outputs, Codex's recorded request, errors and the in-band failure."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import openai
import pytest
from gateway_harness import gateway_running, make_config, sims_running

from provider_fallback.sim import Fault, SimReply, ToolCall

PRIMARY = {"name": "primary", "models": ["m1"], "keep_bodies": True}
BACKUP = {"name": "backup", "models": ["b1"], "keep_bodies": True}
TOOL = {"type": "function", "name": "exec_command", "description": "Run a shell command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}},
                       "required": ["cmd"]}}
RECORDED = Path(__file__).parents[1] / "protocols" / "recorded" / "codex_responses.json"


@pytest.fixture
async def env():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=503))   # the primary is down
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m1", "backup/b1"]})
        async with gateway_running(cfg) as gw:
            yield p, b, gw


def client(gw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)


def script(body):
    last = body["messages"][-1]
    if last["role"] == "tool":
        return SimReply(text=f"The command printed {last['content']}.")
    return SimReply(tool_calls=(ToolCall("exec_command", {"cmd": "echo hi"}, "call_x1"),))


async def test_answer_falls_over_with_usage_and_headers(env):
    p, b, gw = env
    async with client(gw) as c:
        raw = await c.responses.with_raw_response.create(model="chat", input="hello",
                                                         instructions="Be brief.")
    res = raw.parse()
    assert res.object == "response" and res.status == "completed" and res.model == "b1"
    assert res.output_text == "Hello from backup/b1."
    assert res.usage.input_tokens > 0 and res.usage.total_tokens > res.usage.input_tokens
    assert raw.headers["x-provider-fallback-provider"] == "backup"
    assert raw.headers["x-provider-fallback-attempts"] == "2"
    assert p.count() == 1 and b.log[-1].body["messages"][0] == {"role": "system",
                                                                "content": "Be brief."}


async def test_stream_events_and_the_sdks_final_response(env):
    p, b, gw = env
    async with client(gw) as c:
        async with c.responses.stream(model="chat", input="hello") as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed" and "response.output_text.delta" in kinds
    assert final.output_text == "Hello from backup/b1." and final.usage.output_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
async def test_function_call_and_its_output_round_trip(env, stream):
    p, b, gw = env
    b.responder = script
    async with client(gw) as c:
        async def ask(items):
            if not stream:
                return await c.responses.create(model="chat", input=items, tools=[TOOL])
            async with c.responses.stream(model="chat", input=items, tools=[TOOL]) as s:
                async for _ in s:
                    pass
                return await s.get_final_response()

        first = await ask([{"role": "user", "content": "say hi in a shell"}])
        [call] = [item for item in first.output if item.type == "function_call"]
        assert (call.call_id, call.name, json.loads(call.arguments)) == (
            "call_x1", "exec_command", {"cmd": "echo hi"})
        items = [{"role": "user", "content": "say hi in a shell"},
                 *[item.model_dump(exclude_none=True) for item in first.output],
                 {"type": "function_call_output", "call_id": call.call_id, "output": "hi"}]
        second = await ask(items)
    assert second.output_text == "The command printed hi."
    sent = b.log[-1].body
    assert sent["messages"][1]["tool_calls"][0]["id"] == "call_x1"
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_x1", "content": "hi"}
    assert sent["tools"][0]["function"]["name"] == "exec_command"


async def test_sync_client(env):
    p, b, gw = env

    def run() -> str:
        with openai.OpenAI(base_url=gw.url, api_key="unused", max_retries=0) as c:
            events = list(c.responses.create(model="chat", input="hi", stream=True))
            assert events[-1].type == "response.completed"
            return c.responses.create(model="chat", input="hi").output_text

    assert await asyncio.to_thread(run) == "Hello from backup/b1."


async def test_codexs_recorded_request_is_served(env):
    p, b, gw = env
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    body = {**recorded["body"], "model": "chat"}
    async with aiohttp.ClientSession() as http:
        async with http.post(gw.url + "/responses", json=body,
                             headers={"Accept": "text/event-stream"}) as resp:
            assert resp.status == 200
            raw = await resp.read()
    names = [ln[7:] for ln in raw.decode().splitlines() if ln.startswith("event: ")]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert [t["function"]["name"] for t in b.log[-1].body["tools"]][:2] == ["exec_command",
                                                                           "write_stdin"]


async def test_errors_in_openai_shape(env):
    p, b, gw = env
    async with client(gw) as c:
        with pytest.raises(openai.BadRequestError) as kept:
            await c.responses.create(model="chat", input="hi", previous_response_id="resp_1")
        b.set_fault(Fault(status=503))
        with pytest.raises(openai.InternalServerError) as failed:
            await c.responses.create(model="chat", input="hi")
    assert "keeps no conversations" in kept.value.body["message"]
    assert failed.value.status_code == 503
    assert failed.value.body["code"] == "all_providers_failed"
    assert [a["provider"] for a in failed.value.body["attempts"]] == ["primary", "backup"]


async def test_a_stream_broken_after_content_is_response_failed(env):
    p, b, gw = env
    b.set_fault(Fault(cut_after=2))
    async with client(gw) as c:
        stream = await c.responses.create(model="chat", input="hello", stream=True)
        events = [event async for event in stream]
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.code == "stream_cut"
    assert "response.completed" not in [e.type for e in events]
