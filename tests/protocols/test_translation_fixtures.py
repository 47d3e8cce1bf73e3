"""The reference fixtures, translated both ways: Messages <-> chat (the client adapter one
way, the Anthropic upstream dialect the other), answers and streams likewise, Responses
requests into chat and Responses answers back out as input items."""

from __future__ import annotations

import copy
from typing import Any

import protocols_reference as ref

from provider_fallback import _json
from provider_fallback.protocols import MESSAGES, RESPONSES, Answered
from provider_fallback.providers._anthropic import ANTHROPIC, chat_completion, to_messages

WHO = Answered("backup", "gpt-4o-2024-08-06", "pf-test-1")


def normal(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages body in one canonical form: Anthropic treats a string system or content
    as one text block, and cache_control only steers caching."""
    body = copy.deepcopy(body)
    system = body.get("system")
    if isinstance(system, list):
        body["system"] = "\n".join(b["text"] for b in system)
    for message in body["messages"]:
        if isinstance(message["content"], str):
            message["content"] = [{"type": "text", "text": message["content"]}]
        for block in message["content"]:
            block.pop("cache_control", None)
    return body


def parse_sse(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    events = []
    for frame in raw.split(b"\n\n"):
        if not frame.strip() or frame.startswith(b":"):
            continue
        name, data = None, b""
        for line in frame.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        events.append((name, _json.loads(data)))
    return events


def test_messages_request_becomes_the_chat_request():
    chat, ctx = MESSAGES.request(copy.deepcopy(ref.MESSAGES_REQUEST), {"anthropic-version": "2023-06-01"})
    assert chat == ref.CHAT_REQUEST
    assert ctx.headers == {"anthropic-version": "2023-06-01"} and not ctx.stream


def test_chat_request_becomes_the_messages_request():
    assert normal(to_messages(ref.CHAT_REQUEST)) == normal(ref.MESSAGES_REQUEST)


def test_chat_completion_becomes_the_messages_answer():
    answer = _json.loads(MESSAGES.answer(ref.CHAT_COMPLETION, MESSAGES.request(
        copy.deepcopy(ref.MESSAGES_REQUEST), {})[1], WHO))
    assert answer.pop("id") == "msg_pf-test-1"
    assert answer == ref.MESSAGES_ANSWER


def test_messages_answer_becomes_the_chat_completion():
    chat = chat_completion({**ref.MESSAGES_ANSWER, "id": "msg_1"})
    expected = ref.CHAT_COMPLETION["choices"][0]
    assert chat["choices"][0] == expected
    assert chat["usage"] == {**ref.CHAT_COMPLETION["usage"], "cache_read_input_tokens": 64}
    assert chat["model"] == ref.CHAT_COMPLETION["model"] and chat["object"] == "chat.completion"


def test_messages_stream_becomes_chat_chunks():
    decoder = ANTHROPIC.stream_decoder()
    chunks = []
    for _, data in ref.MESSAGES_STREAM:
        chunks.extend(decoder.feed(_json.dumps(data)))
    assert decoder.done
    assert all(c["id"] == "msg_014p7gG3wDgGV9EUtLvnow3U" and c["model"] == "claude-sonnet-4-5"
               and c["object"] == "chat.completion.chunk" for c in chunks)
    simple = [{"usage": c["usage"]} if not c["choices"] else
              {k: v for k, v in c["choices"][0].items() if k != "index"} for c in chunks]
    assert simple == ref.CHAT_CHUNKS


def test_chat_chunks_become_the_messages_stream():
    _, ctx = MESSAGES.request({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]}, {})
    encoder = MESSAGES.encoder(ctx, Answered("anthropic", "claude-sonnet-4-5", "pf-1"))
    raw = encoder.start()
    usage = None
    for piece in ref.CHAT_CHUNKS:
        chunk = {"id": "x", "choices": [] if "usage" in piece else [{"index": 0, **piece}],
                 **({"usage": piece["usage"]} if "usage" in piece else {})}
        usage = piece.get("usage", usage)
        raw += encoder.feed(chunk)
    raw += encoder.end(usage)
    events = parse_sse(raw)
    assert all(name == data["type"] for name, data in events)   # `event:` names its data
    got = [data for name, data in events if name != "ping"]
    want = [data for name, data in ref.MESSAGES_STREAM
            if name != "ping" and data.get("delta", {}).get("partial_json") != ""]
    assert [e["type"] for e in got] == [e["type"] for e in want]
    start = got[0]["message"]
    assert start["id"] == "msg_pf-1" and start["role"] == "assistant" and start["content"] == []
    for mine, theirs in zip(got[1:-2], want[1:-2], strict=True):
        assert mine == theirs
    assert got[-2]["delta"] == want[-2]["delta"]
    # Anthropic's input_tokens exclude cache reads; the total comes back whole
    assert got[-2]["usage"] == {"input_tokens": 472, "output_tokens": 89,
                                "cache_read_input_tokens": 100}


def test_responses_request_becomes_the_chat_request():
    chat, ctx = RESPONSES.request(copy.deepcopy(ref.RESPONSES_REQUEST), {})
    assert chat == ref.CHAT_FROM_RESPONSES
    assert ctx.extra["custom"] == frozenset()


def test_responses_answer_output_reads_back_as_the_same_chat_message():
    """Both ways for Responses: a chat completion's Responses output, sent back as `input`
    (as Codex does on the next turn), is the assistant message it came from."""
    _, ctx = RESPONSES.request({"model": "gpt-4.1", "input": "weather?"}, {})
    body = _json.loads(RESPONSES.answer(ref.CHAT_COMPLETION, ctx, WHO))
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["id"] == "resp_pf-test-1" and body["model"] == "gpt-4o-2024-08-06"
    assert [i["type"] for i in body["output"]] == ["message", "function_call"]
    assert body["output"][1]["call_id"] == "call_abc123"
    assert body["usage"] == {"input_tokens": 82, "input_tokens_details": {"cached_tokens": 64},
                             "output_tokens": 17, "output_tokens_details": {"reasoning_tokens": 0},
                             "total_tokens": 99}
    again, _ = RESPONSES.request({"model": "gpt-4.1", "input": body["output"]}, {})
    assert again["messages"] == [ref.CHAT_COMPLETION["choices"][0]["message"]]


def test_chat_chunks_become_the_responses_stream():
    _, ctx = RESPONSES.request({"model": "gpt-4.1", "input": "weather?", "stream": True,
                                "tools": [{"type": "function", "name": "get_weather",
                                           "parameters": ref.WEATHER_SCHEMA}]}, {})
    encoder = RESPONSES.encoder(ctx, WHO)
    raw = encoder.start()
    usage = None
    for piece in ref.CHAT_CHUNKS:
        if "usage" in piece:
            usage = piece["usage"]
            continue
        raw += encoder.feed({"choices": [{"index": 0, **piece}]})
    raw += encoder.end(usage)
    events = parse_sse(raw)
    assert [name for name, _ in events] == ref.RESPONSES_EVENT_TYPES
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert all(name == data["type"] for name, data in events)
    by_type = {}
    for _, data in events:
        by_type.setdefault(data["type"], []).append(data)
    message, call = (e["item"] for e in by_type["response.output_item.added"])
    assert [e["output_index"] for e in by_type["response.output_item.added"]] == [0, 1]
    assert all(e["item_id"] == message["id"] for e in by_type["response.output_text.delta"])
    assert all(e["item_id"] == call["id"] and e["output_index"] == 1
               for e in by_type["response.function_call_arguments.delta"])
    done = by_type["response.function_call_arguments.done"][0]
    assert done["arguments"] == '{"location": "San Francisco, CA"}' and done["name"] == "get_weather"
    final = by_type["response.completed"][0]["response"]
    assert final["status"] == "completed"
    assert [i["id"] for i in final["output"]] == [message["id"], call["id"]]
    assert final["output"][0]["content"][0]["text"] == "Okay, let's check the weather."
    assert final["usage"]["input_tokens"] == 572 and final["usage"]["output_tokens"] == 89


def test_origin_goes_out_as_it_came_with_only_the_model_replaced():
    body = copy.deepcopy(ref.MESSAGES_REQUEST)
    body["messages"][1]["content"].insert(0, {"type": "thinking", "thinking": "hmm",
                                              "signature": "EqQBCgIYAhIM"})
    body["context_management"] = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    chat, ctx = MESSAGES.request(copy.deepcopy(body), {"anthropic-beta": "x-1"})
    from provider_fallback.providers._dialects import Origin

    origin = Origin("messages", ctx.body, ctx.headers, chat["messages"])
    sent = _json.loads(ANTHROPIC.encode({**chat, "model": "claude-opus-4-1"}, origin))
    assert sent == {**body, "model": "claude-opus-4-1"}
    # a continuation (the loop sends other messages) is translated, not replayed
    other = {**chat, "model": "claude-opus-4-1",
             "messages": [*chat["messages"], {"role": "assistant", "content": "partial"}]}
    sent = _json.loads(ANTHROPIC.encode(other, origin))
    assert sent["messages"][-1] == {"role": "assistant",
                                    "content": [{"type": "text", "text": "partial"}]}
    assert "context_management" not in sent


def test_unsigned_thinking_from_another_target_is_not_replayed_to_anthropic():
    body = {"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": ""},
                                          {"type": "text", "text": "hello"}]},
        {"role": "user", "content": "again"}]}
    from provider_fallback.providers._dialects import Origin

    sent = _json.loads(ANTHROPIC.encode({"model": "m"}, Origin("messages", body)))
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "hello"}]
