"""The `api: anthropic` dialect against the Messages-speaking sim, over loopback: requests
translated or passed through, answers and streams decoded into chat completions and chunks,
errors and rate-limit headers classified by the registry and read by the ledger."""

from __future__ import annotations

import aiohttp
import pytest

from provider_fallback import _json, config_from_dict
from provider_fallback.errors import classify_response
from provider_fallback.limits._headers import read_ratelimit_headers
from provider_fallback.providers import iter_sse_data
from provider_fallback.providers._dialects import OPENAI, Origin, dialect_for
from provider_fallback.sim import Fault, SimProvider, SimReply, ToolCall

CHAT = {"model": "claude-x", "max_tokens": 50, "messages": [
    {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}


@pytest.fixture
async def sim():
    sim = SimProvider("anthropic", models=["claude-x"], flavor="anthropic", api_key="sk-ant-sim",
                      keep_bodies=True, rpm=3)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def provider(sim):
    config = config_from_dict({"providers": [{"name": "anthropic", "base_url": sim.url,
                                              "api": "anthropic", "api_key": "sk-ant-sim"}],
                               "models": {"claude": ["anthropic/claude-x"]}},
                              environ={})
    return config.providers["anthropic"]


async def post(provider, body, *, stream=False, origin=None, client_headers=None):
    dialect = dialect_for(provider)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(provider.base_url + dialect.path("/chat/completions"),
                               data=dialect.encode(body, origin),
                               headers=dialect.headers(provider, stream, client_headers))
        if not stream:
            return resp, await resp.read()
        chunks = []
        decoder = dialect.stream_decoder()
        async for data in iter_sse_data(resp.content, 5):
            chunks.extend(decoder.feed(data))
            if decoder.done:
                break
        return resp, chunks


def test_dialect_choice(provider):
    assert dialect_for(provider).name == "anthropic"
    assert dialect_for(provider).path("/chat/completions") == "/messages"
    headers = dialect_for(provider).headers(provider, True, {"anthropic-beta": "a-1,b-2"})
    assert headers["x-api-key"] == "sk-ant-sim" and headers["anthropic-version"] == "2023-06-01"
    assert headers["anthropic-beta"] == "a-1,b-2" and "Authorization" not in headers
    assert OPENAI.encode({"model": "m"}) == b'{"model":"m"}'


async def test_chat_request_is_translated_and_the_answer_is_a_chat_completion(sim, provider):
    resp, raw = await post(provider, CHAT)
    assert resp.status == 200
    sent = sim.log[-1].body
    assert sent["system"] == "be brief" and sent["max_tokens"] == 50
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    chat = dialect_for(provider).answer(raw)
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["content"] == "Hello from anthropic/claude-x."
    assert chat["choices"][0]["finish_reason"] == "stop"
    assert chat["usage"]["prompt_tokens"] > 0 and chat["usage"]["cache_read_input_tokens"] == 0


async def test_tool_use_and_thinking_come_back_with_signature(sim, provider):
    sim.responder = lambda body: SimReply(tool_calls=(ToolCall("get_weather", {"city": "Oslo"}),))
    body = {**CHAT, "max_tokens": 4000, "reasoning_effort": "low",
            "tools": [{"type": "function", "function": {"name": "get_weather",
                                                        "parameters": {"type": "object"}}}]}
    _, raw = await post(provider, body)
    assert sim.log[-1].body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    message = dialect_for(provider).answer(raw)["choices"][0]["message"]
    assert message["tool_calls"][0]["function"] == {"name": "get_weather",
                                                    "arguments": '{"city":"Oslo"}'}
    assert message["reasoning_content"] == "Thinking it over."
    assert message["reasoning_signature"] == "sig-sim-1"
    _, chunks = await post(provider, {**body, "stream": True}, stream=True)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert {"reasoning_signature": "sig-sim-1"} in deltas
    arguments = "".join(d["tool_calls"][0]["function"].get("arguments", "")
                        for d in deltas if "tool_calls" in d)
    assert arguments == '{"city":"Oslo"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] >= 0


async def test_stream_decodes_into_chat_chunks_with_usage(provider):
    resp, chunks = await post(provider, {**CHAT, "stream": True}, stream=True)
    assert resp.headers["content-type"].startswith("text/event-stream")
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello from anthropic/claude-x."
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] > 0


async def test_a_messages_client_goes_out_as_it_came(sim, provider):
    original = {"model": "claude-alias", "max_tokens": 20, "stream": False,
                "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
                "thinking": {"type": "adaptive"}, "context_management": {"edits": []},
                "messages": [{"role": "user", "content": "hi"}]}
    origin = Origin("messages", original, {"anthropic-version": "2023-06-01",
                                           "anthropic-beta": "claude-code-20250219"})
    resp, _ = await post(provider, {"model": "claude-x", "messages": []}, origin=origin,
                         client_headers=origin.headers)
    assert resp.status == 200
    assert sim.log[-1].body == {**original, "model": "claude-x"}
    assert sim.log[-1].headers["anthropic-beta"] == "claude-code-20250219"


@pytest.mark.parametrize(("fault", "code"), [
    (Fault(status=529), "overloaded"), (Fault(status=413), "request_too_large"),
    (Fault(status=400), "bad_request"), (Fault(status=401), "invalid_api_key"),
    (Fault(status=500), "server_error"),
    (Fault(status=400, message="prompt is too long: 210000 tokens > 200000 maximum"),
     "context_length_exceeded"),
    (Fault(status=400, message="Your credit balance is too low to access the Anthropic API."),
     "insufficient_quota")])
async def test_anthropic_errors_join_the_registry(sim, provider, fault, code):
    sim.set_fault(fault)
    resp, raw = await post(provider, CHAT)
    body = _json.loads(raw)
    assert body["type"] == "error" and body["error"]["type"]
    assert classify_response(resp.status, resp.headers, raw, provider="anthropic").code == code


async def test_rate_limits_are_read_from_anthropic_headers(sim, provider):
    for _ in range(3):
        resp, _ = await post(provider, CHAT)
        assert resp.status == 200
    learned = read_ratelimit_headers(resp.headers)
    assert learned.requests is not None and learned.requests.limit == 3
    assert learned.requests.remaining == 0 and 0 < learned.requests.reset_s <= 61
    resp, raw = await post(provider, CHAT)
    assert resp.status == 429
    failure = classify_response(resp.status, resp.headers, raw, provider="anthropic")
    assert failure.code == "rate_limit_rpm" and 0 < failure.retry_after <= 61


async def test_in_stream_error_event_is_left_for_the_classifier(provider):
    decoder = dialect_for(provider).stream_decoder()
    event = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    [chunk] = decoder.feed(_json.dumps(event))
    assert classify_response(502, {}, chunk, provider="anthropic").code == "overloaded"


async def test_probes_speak_anthropics_api(sim, provider):
    from provider_fallback.health._probes import probe

    async with aiohttp.ClientSession() as http:
        full = await probe(http, provider, "full", timeout=5, proxy=None)
        validate = await probe(http, provider, "validate", timeout=5, proxy=None, model="claude-x")
    assert full.ok and full.models == frozenset({"claude-x"})
    assert validate.ok and sim.log[-1].path == "/v1/messages"
    assert sim.log[-1].headers["x-api-key"] == "sk-ant-sim"
