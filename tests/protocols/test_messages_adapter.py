"""The Messages adapter on what clients really send (Claude Code's recorded request) and on
each mapping rule: thinking, tool_choice, tool results, dropped fields, answers, streams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_translation_fixtures import parse_sse

from provider_fallback import _json
from provider_fallback.errors import (
    AllProvidersFailedError,
    Attempt,
    Failure,
    InvalidRequestError,
    StreamInterruptedError,
    UpstreamError,
    spec,
)
from provider_fallback.protocols import MESSAGES, Answered

RECORDED = json.loads((Path(__file__).parent / "recorded" / "claude_code_messages.json")
                      .read_text(encoding="utf-8"))
WHO = Answered("backup", "llama-3.3-70b", "pf-1")


def request(**body):
    base = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    return MESSAGES.request({**base, **body}, {})


def test_claude_codes_request_is_accepted_and_mapped():
    body = RECORDED["body"]
    chat, ctx = MESSAGES.request(json.loads(json.dumps(body)), {
        "anthropic-version": "2023-06-01", "anthropic-beta": RECORDED["headers"]["anthropic-beta"]})
    assert ctx.stream and chat["stream"] and chat["stream_options"] == {"include_usage": True}
    assert chat["max_tokens"] == 32000
    assert chat["user"] == body["metadata"]["user_id"]
    # system blocks joined (cache_control dropped); the mid-conversation system message kept
    roles = [m["role"] for m in chat["messages"]]
    assert roles[0] == "system" and roles.count("system") == 2 and roles[1] == "user"
    assert "Claude agent" in chat["messages"][0]["content"]
    assert chat["messages"][1]["content"].endswith("say hi")
    assert len(chat["tools"]) == len(body["tools"]) == 24
    assert {t["function"]["name"] for t in chat["tools"]} == {t["name"] for t in body["tools"]}
    assert chat["tools"][0]["function"]["parameters"] == body["tools"][0]["input_schema"]
    # adaptive thinking is the target's default; Anthropic-only settings have no chat twin
    for key in ("reasoning_effort", "thinking", "context_management", "output_config",
                "metadata", "system"):
        assert key not in chat
    assert "cache_control" not in json.dumps(chat)
    assert ctx.headers["anthropic-beta"].startswith("claude-code-")


@pytest.mark.parametrize(("thinking", "effort"), [
    ({"type": "enabled", "budget_tokens": 1024}, "low"),
    ({"type": "enabled", "budget_tokens": 8000}, "medium"),
    ({"type": "enabled", "budget_tokens": 32000}, "high"),
    ({"type": "adaptive"}, None), ({"type": "disabled"}, None)])
def test_thinking_becomes_reasoning_effort(thinking, effort):
    chat, _ = request(thinking=thinking)
    assert chat.get("reasoning_effort") == effort


@pytest.mark.parametrize(("choice", "mapped", "parallel"), [
    ({"type": "auto"}, "auto", None), ({"type": "any"}, "required", None),
    ({"type": "none"}, "none", None),
    ({"type": "tool", "name": "f", "disable_parallel_tool_use": True},
     {"type": "function", "function": {"name": "f"}}, False)])
def test_tool_choice(choice, mapped, parallel):
    chat, _ = request(tools=[{"name": "f", "input_schema": {"type": "object"}}], tool_choice=choice)
    assert chat["tool_choice"] == mapped
    assert chat.get("parallel_tool_calls") == parallel


def test_anthropic_defined_tools_are_dropped_and_tool_choice_with_them():
    chat, _ = request(tools=[{"type": "bash_20250124", "name": "bash"},
                             {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
                      tool_choice={"type": "any"})
    assert "tools" not in chat and "tool_choice" not in chat


def test_tool_results_with_errors_and_images_and_the_following_text():
    chat, _ = request(messages=[
        {"role": "user", "content": "run it"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "bash", "input": {"cmd": "ls"}},
            {"type": "tool_use", "id": "t2", "name": "shot", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": "no such dir"},
            {"type": "tool_result", "tool_use_id": "t2", "content": [
                {"type": "text", "text": "here"},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]},
            {"type": "text", "text": "what now?"}]}])
    assert chat["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "bash", "arguments": '{"cmd":"ls"}'}},
        {"id": "t2", "type": "function", "function": {"name": "shot", "arguments": "{}"}}]}
    assert chat["messages"][2:] == [
        {"role": "tool", "tool_call_id": "t1", "content": "Error: no such dir"},
        {"role": "tool", "tool_call_id": "t2", "content": "here"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                                     {"type": "text", "text": "what now?"}]}]


def test_thinking_blocks_of_earlier_turns_and_documents():
    chat, _ = request(messages=[
        {"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                            "data": "the doc"}},
            {"type": "document", "title": "a.pdf", "source": {
                "type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "h", "signature": "s"},
                                          {"type": "text", "text": "ok"}]}])
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "the doc"},
        {"type": "file", "file": {"filename": "a.pdf",
                                  "file_data": "data:application/pdf;base64,JVBERi0="}}]
    assert chat["messages"][1] == {"role": "assistant", "content": "ok"}


@pytest.mark.parametrize("body", [
    {"model": "m", "max_tokens": 10},
    {"model": "m", "max_tokens": 10, "messages": []},
    {"max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
    {"model": "m", "max_tokens": "ten", "messages": [{"role": "user", "content": "x"}]},
    {"model": "m", "max_tokens": 10, "stream": "yes", "messages": [{"role": "user", "content": "x"}]},
    {"model": "m", "max_tokens": 10, "messages": [{"role": "robot", "content": "x"}]},
    {"model": "m", "max_tokens": 10, "messages": ["x"]},
    {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": 5}]}])
def test_bad_input_is_a_clear_invalid_request(body):
    with pytest.raises(InvalidRequestError) as info:
        MESSAGES.request(body, {})
    assert info.value.http_status == 400 and info.value.code == "invalid_request"


def test_unknown_fields_are_ignored():
    chat, _ = request(service_tier="auto", container="c1", mcp_servers=[], something_new={"a": 1})
    assert set(chat) == {"model", "messages", "max_tokens"}


def test_answer_thinking_stop_sequence_and_cache_usage():
    _, ctx = request(stop_sequences=["###"])
    completion = {"choices": [{"index": 0, "finish_reason": "stop", "stop_reason": "###",
                               "message": {"role": "assistant", "content": "done",
                                           "reasoning_content": "because",
                                           "reasoning_signature": "sig"}}],
                  "usage": {"prompt_tokens": 100, "completion_tokens": 9,
                            "cache_read_input_tokens": 60, "cache_creation_input_tokens": 30}}
    answer = _json.loads(MESSAGES.answer(completion, ctx, WHO))
    assert answer["content"] == [{"type": "thinking", "thinking": "because", "signature": "sig"},
                                 {"type": "text", "text": "done"}]
    assert (answer["stop_reason"], answer["stop_sequence"]) == ("stop_sequence", "###")
    assert answer["usage"] == {"input_tokens": 10, "output_tokens": 9,
                               "cache_read_input_tokens": 60, "cache_creation_input_tokens": 30}
    assert answer["model"] == "llama-3.3-70b" and answer["id"] == "msg_pf-1"


@pytest.mark.parametrize(("finish", "reason"), [("stop", "end_turn"), ("length", "max_tokens"),
                                                ("content_filter", "refusal"), (None, "end_turn")])
def test_answer_stop_reasons(finish, reason):
    _, ctx = request()
    answer = _json.loads(MESSAGES.answer({"choices": [{"finish_reason": finish, "message": {
        "content": "x"}}]}, ctx, WHO))
    assert answer["stop_reason"] == reason


def stream(chunks, *, error=None):
    _, ctx = request(stream=True)
    encoder = MESSAGES.encoder(ctx, WHO)
    raw = encoder.start() + b"".join(encoder.feed(c) for c in chunks)
    raw += encoder.error(error) if error else encoder.end(None)
    return parse_sse(raw)


def delta(**d):
    return {"choices": [{"index": 0, "delta": d}]}


def test_stream_thinking_signature_redacted_text_and_tool_in_order():
    events = stream([delta(role="assistant", content=""), delta(reasoning_content="let me"),
                     delta(reasoning=" think"), delta(reasoning_signature="sig1"),
                     delta(reasoning_redacted="opaque"), delta(content="Hi"),
                     delta(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "f",
                                                                            "arguments": "{}"}}]),
                     {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
                      "usage": {"prompt_tokens": 4, "completion_tokens": 2}}])
    names = [n for n, _ in events]
    assert names == ["message_start", "ping",
                     "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [b["type"] for b in starts] == ["thinking", "redacted_thinking", "text", "tool_use"]
    assert starts[1]["data"] == "opaque" and starts[3]["id"] == "c1"
    assert [d["index"] for n, d in events if n.startswith("content_block")] == \
        [0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3]
    deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
    assert deltas[2] == {"type": "signature_delta", "signature": "sig1"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"] == {"input_tokens": 4, "output_tokens": 2}


def test_stream_broken_after_content_ends_with_an_error_event_not_message_stop():
    failure = Failure(spec("stream_cut"), provider="backup", model="b1", message="closed early")
    events = stream([delta(content="Hel")], error=StreamInterruptedError(failure))
    assert [n for n, _ in events][-2:] == ["content_block_stop", "error"]
    error = events[-1][1]
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert error["error"]["code"] == "stream_cut" and error["error"]["provider"] == "backup"
    assert error["error"]["resolution"]
    assert "message_stop" not in [n for n, _ in events]


@pytest.mark.parametrize(("exc", "status", "kind"), [
    (InvalidRequestError("bad", code="invalid_request"), 400, "invalid_request_error"),
    (InvalidRequestError("who", code="unauthorized", http_status=401), 401, "authentication_error"),
    (InvalidRequestError("nope", code="model_not_found", http_status=404), 404, "not_found_error"),
    (InvalidRequestError("big", code="request_too_large", http_status=413), 413, "request_too_large"),
    (UpstreamError(Failure(spec("rate_limit_rpm"), provider="g", model="m")), 429,
     "rate_limit_error"),
    (UpstreamError(Failure(spec("budget_exceeded"))), 402, "billing_error"),
    (UpstreamError(Failure(spec("overloaded"), provider="a", model="c")), 503, "overloaded_error"),
    (UpstreamError(Failure(spec("timeout_total"), provider="a", model="c")), 504, "timeout_error"),
    (UpstreamError(Failure(spec("server_error"), provider="a", model="c")), 502, "api_error")])
def test_errors_in_anthropics_shape(exc, status, kind):
    got_status, body = MESSAGES.error(exc, "pf-9")
    assert got_status == status
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["error"]["code"] == exc.code and body["request_id"] == "pf-9"


def test_all_providers_failed_is_overloaded_with_every_attempt():
    last = Failure(spec("service_unavailable"), provider="backup", model="b1",
                   message="Service Unavailable")
    exc = AllProvidersFailedError("chat", [Attempt("primary", "m1", "connection_refused", None, 1),
                                           Attempt("backup", "b1", "service_unavailable", 503, 2)],
                                  retry_after=4, last=last)
    status, body = MESSAGES.error(exc)
    assert status == 503 and body["error"]["type"] == "overloaded_error"
    assert body["error"]["code"] == "all_providers_failed"
    assert [a["code"] for a in body["error"]["attempts"]] == ["connection_refused",
                                                             "service_unavailable"]
    assert "Service Unavailable" in body["error"]["message"] and body["error"]["retry_after"] == 4


def test_claude_codes_recorded_tool_result_turn():
    recorded = json.loads((Path(__file__).parent / "recorded" / "claude_code_tool_result.json")
                          .read_text(encoding="utf-8"))
    chat, _ = MESSAGES.request(recorded["body"], {})
    *_, assistant, tool = chat["messages"]
    assert assistant["content"] == "Writing the file."
    [call] = assistant["tool_calls"]
    assert call["id"] == "toolu_01" and call["function"]["name"] == "Write"
    assert json.loads(call["function"]["arguments"])["content"] == "hello\n"
    assert tool["role"] == "tool" and tool["tool_call_id"] == "toolu_01"
    assert tool["content"].startswith("File created successfully")
    # the mid-conversation system message keeps its place, between the user and the reply
    assert [m["role"] for m in chat["messages"][1:]] == ["user", "system", "assistant", "tool"]
