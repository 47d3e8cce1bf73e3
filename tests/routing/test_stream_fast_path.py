"""The relay's quick look: a chunk it lets through unwalked never carries anything but text."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from provider_fallback.routing._stream import _only_text

text = st.text(max_size=30)
delta = st.fixed_dictionaries({}, optional={
    "content": st.one_of(st.none(), text), "role": st.just("assistant"),
    "tool_calls": st.just([{"index": 0, "function": {"arguments": "{"}}]),
    "reasoning_content": text, "reasoning": text, "refusal": st.none()})
choice = st.fixed_dictionaries({"index": st.just(0), "delta": delta},
                               optional={"finish_reason": st.one_of(
                                   st.none(), st.sampled_from(["stop", "length", "error"]))})
chunk = st.fixed_dictionaries(
    {"id": st.just("c1"), "choices": st.lists(choice, min_size=0, max_size=2)},
    optional={"usage": st.sampled_from([{"total_tokens": 3}, None]),
              "error": st.sampled_from([{"code": 502}, None]),
              "x_groq": st.just({"usage": {}}), "model": text,
              "system_fingerprint": st.just("fp")})


def _text_only(obj: dict) -> bool:
    if obj.get("usage") is not None or obj.get("error") or "x_groq" in obj \
            or len(obj["choices"]) != 1:
        return False
    for c in obj["choices"]:
        if c.get("finish_reason") is not None:
            return False
        if set(c["delta"]) - {"content", "role", "refusal"}:
            return False
    return True


@settings(max_examples=500, deadline=None)
@given(chunk)
def test_what_passes_the_look_carries_only_text(obj):
    text = _only_text(json.loads(json.dumps(obj)))
    if text is not None:
        assert _text_only(obj)
        assert text == (obj["choices"][0]["delta"].get("content") or "")


def test_the_usual_text_chunk_passes():
    obj = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": 0, "delta": {"content": "Hello"}, "logprobs": None,
                        "finish_reason": None}]}
    assert _only_text(obj) == "Hello"
    obj["choices"][0]["finish_reason"] = "stop"
    assert _only_text(obj) is None
    assert _only_text([1]) is None
