"""Property tests: text and tool calls survive chat -> Messages -> chat (requests, answers
and streams, through the Messages adapter and the Anthropic dialect) and chat -> Responses
-> chat (answers and streams, read back as Codex sends them: as input items)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_translation_fixtures import parse_sse

from provider_fallback import _json
from provider_fallback.protocols import MESSAGES, RESPONSES, Answered
from provider_fallback.providers._anthropic import ANTHROPIC, chat_completion, to_messages

WHO = Answered("p", "m", "rid")
text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
names = st.text("abcdefghijklmnopqrstuvwxyz_ABCXYZ0123456789", min_size=1, max_size=16)
ids = st.integers(0, 10**9).map(lambda n: f"call_{n:x}")
args = st.dictionaries(st.text(min_size=1, max_size=8),
                       st.one_of(st.integers(-10**6, 10**6), st.text(max_size=12), st.booleans(),
                                 st.none()), max_size=4)


@st.composite
def tool_calls(draw: Any, min_size: int = 0) -> list[dict[str, Any]]:
    n = draw(st.integers(min_size, 3))
    call_ids = draw(st.lists(ids, min_size=n, max_size=n, unique=True))
    return [{"id": call_ids[i], "type": "function",
             "function": {"name": draw(names), "arguments": _json.dumps(draw(args)).decode()}}
            for i in range(n)]


@st.composite
def assistant(draw: Any) -> dict[str, Any]:
    calls = draw(tool_calls())
    content = draw(text) if not calls or draw(st.booleans()) else None
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return message


@st.composite
def conversation(draw: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(text)})
    for _ in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(text)})
        reply = draw(assistant())
        messages.append(reply)
        for call in reply.get("tool_calls", []):
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": draw(text)})
    return messages


@settings(max_examples=100, deadline=None)
@given(conversation(), st.lists(names, max_size=3, unique=True))
def test_chat_request_survives_messages_and_back(messages, tool_names):
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
             for n in tool_names]
    chat = {"model": "m", "messages": messages, "max_tokens": 64,
            **({"tools": tools} if tools else {})}
    again, _ = MESSAGES.request(to_messages(chat), {})
    assert again["messages"] == messages
    assert again.get("tools", []) == tools


def completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}


def finish_of(message: dict[str, Any], length: bool) -> str:
    return "tool_calls" if message.get("tool_calls") else "length" if length else "stop"


@settings(max_examples=100, deadline=None)
@given(assistant(), st.booleans())
def test_chat_answer_survives_messages_and_back(message, length):
    finish = finish_of(message, length)
    _, ctx = MESSAGES.request({"model": "m", "messages": [{"role": "user", "content": "q"}]}, {})
    back = chat_completion(_json.loads(MESSAGES.answer(completion(message, finish), ctx, WHO)))
    assert back["choices"][0]["message"] == message
    assert back["choices"][0]["finish_reason"] == finish
    assert back["usage"]["prompt_tokens"] == 5 and back["usage"]["completion_tokens"] == 7


@settings(max_examples=100, deadline=None)
@given(assistant())
def test_chat_answer_survives_responses_and_back(message):
    _, ctx = RESPONSES.request({"model": "m", "input": "q"}, {})
    body = _json.loads(RESPONSES.answer(completion(message, finish_of(message, False)), ctx, WHO))
    again, _ = RESPONSES.request({"model": "m", "input": body["output"]}, {})
    assert again["messages"] == [message]


def chunks_of(message: dict[str, Any], cuts: list[int]) -> list[dict[str, Any]]:
    """A stream carrying `message`: text and each call's arguments in pieces."""
    def pieces(s: str) -> list[str]:
        points = sorted({c % (len(s) + 1) for c in cuts} | {0, len(s)})
        return [s[a:b] for a, b in zip(points, points[1:], strict=False) if s[a:b]]

    out: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {"role": "assistant",
                                                                     "content": ""}}]}]
    for piece in pieces(message.get("content") or ""):
        out.append({"choices": [{"index": 0, "delta": {"content": piece}}]})
    for n, call in enumerate(message.get("tool_calls", [])):
        fn = call["function"]
        out.append({"choices": [{"index": 0, "delta": {"tool_calls": [{
            "index": n, "id": call["id"], "type": "function",
            "function": {"name": fn["name"], "arguments": ""}}]}}]})
        for piece in pieces(fn["arguments"]):
            out.append({"choices": [{"index": 0, "delta": {"tool_calls": [{
                "index": n, "function": {"arguments": piece}}]}}]})
    out.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish_of(message, False)}]})
    out.append({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4,
                                         "total_tokens": 7}})
    return out


def accumulate(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    texts: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            texts.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or ():
                entry = calls.setdefault(call["index"], {"id": "", "type": "function",
                                                         "function": {"name": "", "arguments": ""}})
                entry["id"] = call.get("id") or entry["id"]
                entry["function"]["name"] += call.get("function", {}).get("name") or ""
                entry["function"]["arguments"] += call.get("function", {}).get("arguments") or ""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message


@settings(max_examples=100, deadline=None)
@given(assistant(), st.lists(st.integers(0, 100), max_size=4))
def test_chat_stream_survives_messages_events_and_back(message, cuts):
    _, ctx = MESSAGES.request({"model": "m", "stream": True,
                               "messages": [{"role": "user", "content": "q"}]}, {})
    encoder = MESSAGES.encoder(ctx, WHO)
    raw = encoder.start() + b"".join(encoder.feed(c) for c in chunks_of(message, cuts))
    raw += encoder.end({"prompt_tokens": 3, "completion_tokens": 4})
    decoder = ANTHROPIC.stream_decoder()
    back = [c for _, data in parse_sse(raw) for c in decoder.feed(_json.dumps(data))]
    assert decoder.done
    assert accumulate(back) == message
    assert back[-1]["usage"]["completion_tokens"] == 4
    assert back[-2]["choices"][0]["finish_reason"] == finish_of(message, False)


@settings(max_examples=100, deadline=None)
@given(assistant(), st.lists(st.integers(0, 100), max_size=4))
def test_chat_stream_survives_responses_events_and_back(message, cuts):
    _, ctx = RESPONSES.request({"model": "m", "input": "q", "stream": True}, {})
    encoder = RESPONSES.encoder(ctx, WHO)
    raw = encoder.start() + b"".join(encoder.feed(c) for c in chunks_of(message, cuts))
    raw += encoder.end({"prompt_tokens": 3, "completion_tokens": 4})
    events = parse_sse(raw)
    assert [e["sequence_number"] for _, e in events] == list(range(len(events)))
    final = events[-1][1]
    assert final["type"] == "response.completed"
    again, _ = RESPONSES.request({"model": "m", "input": final["response"]["output"]}, {})
    assert again["messages"] == [message]
