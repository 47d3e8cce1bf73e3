"""The Responses adapter on Codex's recorded request and on each mapping rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_translation_fixtures import parse_sse

from provider_fallback import _json
from provider_fallback.errors import Failure, InvalidRequestError, StreamInterruptedError, spec
from provider_fallback.protocols import RESPONSES, Answered

RECORDED = json.loads((Path(__file__).parent / "recorded" / "codex_responses.json")
                      .read_text(encoding="utf-8"))
WHO = Answered("backup", "b1", "pf-7")


def test_codexs_request_is_accepted_and_mapped():
    body = RECORDED["body"]
    chat, ctx = RESPONSES.request(json.loads(json.dumps(body)), {})
    assert chat["stream"] and chat["stream_options"] == {"include_usage": True}
    assert [m["role"] for m in chat["messages"]] == ["system", "system", "user", "user"]
    assert chat["messages"][-1] == {"role": "user", "content": "say hi"}
    functions = [t["name"] for t in body["tools"] if t["type"] == "function"]
    assert [t["function"]["name"] for t in chat["tools"]] == functions
    assert len(functions) == 7 and len(body["tools"]) == 9   # namespace and web_search dropped
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is True
    for key in ("store", "include", "prompt_cache_key", "client_metadata", "reasoning",
                "reasoning_effort", "input", "instructions"):
        assert key not in chat   # summary-only reasoning asks for no effort
    assert ctx.model == "chat"


@pytest.mark.parametrize("key", ["previous_response_id", "conversation"])
def test_conversations_kept_by_the_server_are_a_clear_400(key):
    with pytest.raises(InvalidRequestError) as info:
        RESPONSES.request({"model": "m", "input": "hi", key: "resp_123"}, {})
    assert info.value.http_status == 400 and key in info.value.message
    assert "whole conversation" in info.value.message


@pytest.mark.parametrize("body", [
    {"input": "hi"}, {"model": "m"}, {"model": "m", "input": 5}, {"model": "m", "input": [5]},
    {"model": "m", "input": [{"role": "wizard", "content": "x"}]},
    {"model": "m", "input": "x", "stream": 1}, {"model": "m", "input": "x", "background": True}])
def test_bad_input(body):
    with pytest.raises(InvalidRequestError):
        RESPONSES.request(body, {})


def test_custom_tools_are_functions_with_one_input_and_come_back_custom():
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"
    chat, ctx = RESPONSES.request({"model": "m", "tool_choice": {"type": "custom", "name": "apply_patch"},
                                   "tools": [{"type": "custom", "name": "apply_patch",
                                              "description": "edit files",
                                              "format": {"type": "grammar", "syntax": "lark",
                                                         "definition": "start: /.+/"}}],
                                   "input": [{"role": "user", "content": "add a.txt"},
                                             {"type": "custom_tool_call", "call_id": "c0",
                                              "name": "apply_patch", "input": "old"},
                                             {"type": "custom_tool_call_output", "call_id": "c0",
                                              "output": "ok"}]}, {})
    assert chat["tools"][0]["function"]["parameters"]["required"] == ["input"]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}
    assert chat["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"input":"old"}'
    completion = {"choices": [{"finish_reason": "tool_calls", "message": {
        "content": None, "tool_calls": [{"id": "c1", "function": {
            "name": "apply_patch", "arguments": _json.dumps({"input": patch}).decode()}}]}}]}
    item = _json.loads(RESPONSES.answer(completion, ctx, WHO))["output"][0]
    assert item == {"type": "custom_tool_call", "id": "fc_pf-7_0", "call_id": "c1",
                    "name": "apply_patch", "input": patch, "status": "completed"}


def test_answer_with_reasoning_and_truncation():
    _, ctx = RESPONSES.request({"model": "m", "input": "q", "max_output_tokens": 5}, {})
    body = _json.loads(RESPONSES.answer({"choices": [{"finish_reason": "length", "message": {
        "content": "abc", "reasoning_content": "hmm"}}]}, ctx, WHO))
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [i["type"] for i in body["output"]] == ["reasoning", "message"]
    assert body["output"][0]["content"] == [{"type": "reasoning_text", "text": "hmm"}]
    assert body["max_output_tokens"] == 5   # request settings are echoed


def events_of(chunks, *, end=True, error=None):
    _, ctx = RESPONSES.request({"model": "m", "input": "q", "stream": True}, {})
    encoder = RESPONSES.encoder(ctx, WHO)
    raw = encoder.start() + b"".join(encoder.feed(c) for c in chunks)
    if error is not None:
        raw += encoder.error(error)
    elif end:
        raw += encoder.end(None)
    return parse_sse(raw)


def test_stream_reasoning_then_text_then_length_is_incomplete():
    events = events_of([{"choices": [{"index": 0, "delta": {"reasoning": "think"}}]},
                        {"choices": [{"index": 0, "delta": {"content": "ans"}}]},
                        {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}])
    names = [n for n, _ in events]
    assert names[2:6] == ["response.output_item.added", "response.content_part.added",
                          "response.reasoning_text.delta", "response.reasoning_text.done"]
    assert names[-1] == "response.incomplete"
    final = events[-1][1]["response"]
    assert [i["type"] for i in final["output"]] == ["reasoning", "message"]
    assert [i["id"] for i in final["output"]] == ["rs_pf-7_0", "msg_pf-7_1"]


def test_stream_broken_after_content_is_response_failed_with_the_code():
    failure = Failure(spec("stream_cut"), provider="backup", model="b1", message="cut")
    events = events_of([{"choices": [{"index": 0, "delta": {"content": "par"}}]}],
                       error=StreamInterruptedError(failure))
    last = events[-1][1]
    assert last["type"] == "response.failed" and last["response"]["status"] == "failed"
    error = last["response"]["error"]
    assert error["code"] == "stream_cut" and error["provider"] == "backup" and error["resolution"]
    assert "response.completed" not in [n for n, _ in events]


def test_codexs_recorded_function_call_output_turn():
    recorded = json.loads((Path(__file__).parent / "recorded" / "codex_function_call_output.json")
                          .read_text(encoding="utf-8"))
    chat, _ = RESPONSES.request(recorded["body"], {})
    *_, user, assistant, tool = chat["messages"]
    assert user == {"role": "user", "content": "create hello.txt containing hello"}
    assert assistant == {"role": "assistant", "content": None, "tool_calls": [{
        "id": "call_1", "type": "function",
        "function": {"name": "exec_command", "arguments": '{"cmd": "echo hello > hello.txt"}'}}]}
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1"
    assert "Process exited with code 0" in tool["content"]
