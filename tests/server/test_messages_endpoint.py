"""The official anthropic SDK against the gateway's /v1/messages, through a chain whose
primary is dead and whose fallback is an OpenAI-compatible sim: sync, async, streaming,
tool use and the tool_result round trip, count_tokens, models, errors in Anthropic's
shape, the in-band error after content, pings, headers, metrics and secrets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import anthropic
import pytest
from gateway_harness import gateway_running, make_config, sims_running

from provider_fallback.sim import Fault, SimReply, ToolCall

PRIMARY = {"name": "primary", "models": ["m1"], "keep_bodies": True}
BACKUP = {"name": "backup", "models": ["b1"], "keep_bodies": True}
HI = [{"role": "user", "content": "hello"}]
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
RECORDED = Path(__file__).parents[1] / "protocols" / "recorded" / "claude_code_messages.json"


@pytest.fixture
async def env():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        await p.close_listener()   # the primary is dead: connection refused
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m1", "backup/b1"]})
        async with gateway_running(cfg) as gw:
            yield p, b, gw


def client(gw, **kw) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.base_url, api_key="unused", max_retries=0, **kw)


async def test_async_answer_falls_over_with_route_headers_and_usage(env):
    p, b, gw = env
    async with client(gw) as c:
        raw = await c.messages.with_raw_response.create(model="chat", max_tokens=64, messages=HI,
                                                        system="Be brief.")
    msg = await raw.parse()
    assert msg.type == "message" and msg.role == "assistant" and msg.model == "b1"
    assert msg.content[0].type == "text" and msg.content[0].text == "Hello from backup/b1."
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert raw.headers["x-provider-fallback-provider"] == "backup"
    assert raw.headers["x-provider-fallback-attempts"] == "2"
    assert raw.headers["x-provider-fallback-route"].startswith("primary/m1=connection_refused")
    sent = b.log[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["max_tokens"] == 64


async def test_sync_client_and_beta_query(env):
    p, b, gw = env

    def run() -> tuple[str, str]:
        with anthropic.Anthropic(base_url=gw.base_url, api_key="unused", max_retries=0) as c:
            msg = c.messages.create(model="chat", max_tokens=32, messages=HI)
            beta = c.beta.messages.create(model="chat", max_tokens=32, messages=HI,
                                          betas=["interleaved-thinking-2025-05-14"])
            return msg.content[0].text, beta.content[0].text

    assert await asyncio.to_thread(run) == ("Hello from backup/b1.",) * 2


async def test_stream_events_in_order_with_final_usage(env):
    p, b, gw = env
    async with client(gw) as c:
        async with c.messages.stream(model="chat", max_tokens=64, messages=HI) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 1
    assert "message_delta" in kinds
    assert final.content[0].text == "Hello from backup/b1." and final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    assert b.log[-1].body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_use_and_tool_result_round_trip(env, stream):
    p, b, gw = env

    def script(body):
        if body["messages"][-1]["role"] == "tool":
            return SimReply(text=f"It is {body['messages'][-1]['content']}.")
        return SimReply(text="Checking.", tool_calls=(ToolCall("get_weather", {"city": "Oslo"},
                                                               "call_w1"),))

    b.responder = script
    async with client(gw) as c:
        async def ask(messages):
            if not stream:
                return await c.messages.create(model="chat", max_tokens=64, messages=messages,
                                               tools=[WEATHER])
            async with c.messages.stream(model="chat", max_tokens=64, messages=messages,
                                         tools=[WEATHER]) as s:
                return await s.get_final_message()

        first = await ask(HI)
        assert first.stop_reason == "tool_use"
        assert [block.type for block in first.content] == ["text", "tool_use"]
        call = first.content[1]
        assert (call.id, call.name, call.input) == ("call_w1", "get_weather", {"city": "Oslo"})
        followup = [*HI, {"role": "assistant", "content": [blk.model_dump(exclude_none=True)
                                                           for blk in first.content]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                  "content": "12 degrees"}]}]
        second = await ask(followup)
    assert second.content[0].text == "It is 12 degrees." and second.stop_reason == "end_turn"
    sent = b.log[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_w1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "12 degrees"}
    assert b.log[-1].body["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]


async def test_count_tokens_is_an_estimate_and_models_in_anthropic_shape(env):
    p, b, gw = env
    async with client(gw) as c:
        raw = await c.messages.with_raw_response.count_tokens(model="chat", messages=HI,
                                                              tools=[WEATHER])
        models = [m.id async for m in c.models.list()]
    assert (await raw.parse()).input_tokens > 0 and raw.headers["x-provider-fallback-estimated"] == "true"
    assert json.loads(raw.http_response.text)["estimated"] is True
    assert models == ["chat"]
    assert b.count(path="/messages") == 0 and p.count() == 0   # counted without an upstream call


async def test_head_root_answers_as_claude_code_expects(env):
    p, b, gw = env
    async with aiohttp.ClientSession() as http, http.head(gw.base_url + "/") as resp:
        assert resp.status == 200


async def test_claude_codes_recorded_request_is_served(env):
    p, b, gw = env
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    body = {**recorded["body"], "model": "chat"}
    headers = {k: v for k, v in recorded["headers"].items() if k != "x-api-key"}
    async with aiohttp.ClientSession() as http:
        async with http.post(gw.base_url + recorded["path"], json=body, headers=headers) as resp:
            assert resp.status == 200
            raw = await resp.read()
    assert raw.startswith(b"event: message_start\n") and raw.endswith(
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert len(b.log[-1].body["tools"]) == 24


async def test_errors_are_anthropic_shaped_with_code_provider_and_resolution(env):
    p, b, gw = env
    b.set_fault(Fault(status=503))
    async with client(gw) as c:
        with pytest.raises(anthropic.APIStatusError) as failed:
            await c.messages.create(model="chat", max_tokens=8, messages=HI)
        with pytest.raises(anthropic.NotFoundError) as missing:
            await c.messages.create(model="nope", max_tokens=8, messages=HI)
        with pytest.raises(anthropic.BadRequestError) as bad:
            await c.messages.create(model="chat", max_tokens=8, messages=[])
    assert failed.value.status_code == 503
    error = failed.value.body["error"]
    assert failed.value.body["type"] == "error" and error["type"] == "overloaded_error"
    assert error["code"] == "all_providers_failed" and error["resolution"]
    assert [a["provider"] for a in error["attempts"]] == ["primary", "backup"]
    assert missing.value.body["error"]["type"] == "not_found_error"
    assert "chat" in missing.value.body["error"]["message"]   # names the configured models
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    async with aiohttp.ClientSession() as http:
        async with http.post(gw.base_url + "/v1/messages", data=b"{not json",
                             headers={"Content-Type": "application/json"}) as resp:
            body = await resp.json()
        # the front door's refusals are in the client's format too
        async with http.post(gw.base_url + "/v1/messages", data=b"{}",
                             headers={"Content-Type": "text/plain"}) as refused:
            refusal = await refused.json()
    assert resp.status == 400 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "invalid_json"
    assert refused.status == 415 and refusal["type"] == "error"
    assert refusal["error"]["code"] == "unsupported_media_type"


async def test_a_stream_broken_after_content_ends_with_an_error_event(env):
    p, b, gw = env
    b.set_fault(Fault(cut_after=2))
    async with client(gw) as c:
        stream = await c.messages.create(model="chat", max_tokens=64, messages=HI, stream=True)
        kinds = []
        with pytest.raises(anthropic.APIStatusError) as broken:
            async for event in stream:
                kinds.append(event.type)
    assert "content_block_delta" in kinds and "message_stop" not in kinds
    assert broken.value.body["error"]["code"] == "stream_cut"
    assert broken.value.body["error"]["provider"] == "backup"


async def test_pings_while_the_upstream_is_silent(env):
    p, b, gw = env
    b.chunk_delay = 0.25
    gw.app.protocols.ping_interval = 0.05
    async with aiohttp.ClientSession() as http:
        async with http.post(gw.base_url + "/v1/messages", json={
                "model": "chat", "max_tokens": 8, "stream": True, "messages": HI}) as resp:
            raw = await resp.read()
    names = [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]
    first_delta = names.index("content_block_delta")
    assert "ping" in names[first_delta:names.index("message_stop")]
    assert names[-1] == "message_stop"


async def test_wrong_key_is_an_authentication_error_and_x_api_key_works():
    async with sims_running(BACKUP) as (b,):
        cfg = make_config({"backup": b}, {"chat": ["backup/b1"]},
                          server={"master_key": "os.environ/PF_KEY"},
                          environ={"PF_KEY": "gateway-key-123"})
        async with gateway_running(cfg) as gw:
            async with anthropic.AsyncAnthropic(base_url=gw.base_url, api_key="wrong",
                                                max_retries=0) as c:
                with pytest.raises(anthropic.AuthenticationError) as denied:
                    await c.messages.create(model="chat", max_tokens=8, messages=HI)
            assert denied.value.body["error"]["type"] == "authentication_error"
            assert denied.value.body["error"]["code"] == "unauthorized"
            async with anthropic.AsyncAnthropic(base_url=gw.base_url, api_key="gateway-key-123",
                                                max_retries=0) as c:
                msg = await c.messages.create(model="chat", max_tokens=8, messages=HI)
                assert msg.content[0].text
                assert [m.id async for m in c.models.list()] == ["chat"]


async def test_requests_carry_the_protocol_label_and_records():
    async with sims_running(BACKUP) as (b,):
        cfg = make_config({"backup": b}, {"chat": ["backup/b1"]},
                          sections={"metrics": {"public": True}})
        async with gateway_running(cfg) as gw:
            records = []
            gw.router.requests.add(records.append)
            async with client(gw) as c:
                await c.messages.create(model="chat", max_tokens=8, messages=HI)
            async with aiohttp.ClientSession() as http:
                await (await http.post(gw.url + "/chat/completions",
                                       json={"model": "chat", "messages": HI})).read()
                await asyncio.sleep(0.05)
                text = await (await http.get(gw.base_url + "/metrics")).text()
    assert [r.protocol for r in records] == ["messages", "chat"]
    assert [r.outcome for r in records] == ["ok", "ok"]
    lines = [ln for ln in text.splitlines() if ln.startswith("provider_fallback_requests_total{")]
    assert any('protocol="messages"' in ln for ln in lines)
    assert any('protocol="chat"' in ln for ln in lines)


async def test_an_echoed_provider_key_never_reaches_the_client():
    async with sims_running(BACKUP) as (b,):
        secret = "plainly-configured-value-9f8e7d"
        b.set_fault(Fault(status=400, message=f"bad key {secret} for this request"))
        cfg = make_config({"backup": b}, {"chat": ["backup/b1"]},
                          providers={"backup": {"api_key": "os.environ/BACKUP_KEY"}},
                          environ={"BACKUP_KEY": secret})
        async with gateway_running(cfg) as gw:
            async with aiohttp.ClientSession() as http:
                async with http.post(gw.base_url + "/v1/messages", json={
                        "model": "chat", "max_tokens": 8, "messages": HI}) as resp:
                    raw = await resp.read()
    assert resp.status == 400 and secret.encode() not in raw and b"[secret]" in raw


async def test_count_tokens_asks_an_anthropic_native_first_target():
    async with sims_running({"name": "claude", "models": ["claude-x"], "flavor": "anthropic",
                             "api_key": "sk-ant-sim", "keep_bodies": True}, BACKUP) as (a, b):
        cfg = make_config({"claude": a, "backup": b}, {"chat": ["claude/claude-x", "backup/b1"]},
                          providers={"claude": {"api": "anthropic", "api_key": "os.environ/AK"}},
                          environ={"AK": "sk-ant-sim"})
        async with gateway_running(cfg) as gw, client(gw) as c:
            raw = await c.messages.with_raw_response.count_tokens(
                model="chat", messages=HI, extra_headers={"anthropic-beta": "token-counting-x"})
            counted = await raw.parse()
            a.set_fault(Fault(status=529))   # the native target overloaded: the estimate answers
            estimated = await c.messages.count_tokens(model="chat", messages=HI)
    assert raw.headers["x-provider-fallback-provider"] == "claude"
    assert "x-provider-fallback-estimated" not in raw.headers
    assert counted.input_tokens > 0
    sent = a.log[0]
    assert sent.path == "/v1/messages/count_tokens" and sent.body["model"] == "claude-x"
    assert sent.headers["x-api-key"] == "sk-ant-sim"
    assert sent.headers["anthropic-beta"] == "token-counting-x"
    assert json.loads(estimated.model_dump_json())["estimated"] is True
