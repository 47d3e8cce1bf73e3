"""The relay's byte scan: a chunk it lets through unwalked never carries anything but text."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from provider_fallback.routing._stream import _plain_text

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
    optional={"usage": st.just({"total_tokens": 3}), "error": st.just({"code": 502}),
              "x_groq": st.just({"usage": {}}), "model": text,
              "system_fingerprint": st.just("fp")})


def _only_text(obj: dict) -> bool:
    if any(k in obj for k in ("usage", "error", "x_groq")):
        return False
    for c in obj["choices"]:
        if c.get("finish_reason") is not None:
            return False
        if set(c["delta"]) - {"content", "role", "refusal"}:
            return False
    return True


@settings(max_examples=500, deadline=None)
@given(chunk, st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
def test_what_passes_the_scan_carries_only_text(obj, separators):
    raw = json.dumps(obj, separators=separators).encode()
    if _plain_text(raw):
        assert _only_text(obj)


def test_the_usual_text_chunk_passes():
    raw = (b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
           b'"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}')
    assert _plain_text(raw)
    assert not _plain_text(raw.replace(b"null", b'"stop"'))
    assert not _plain_text(b"not json")


def test_text_that_mentions_the_keys_is_still_text():
    # quotes inside a JSON string are escaped, so the scan cannot mistake them for keys
    obj = {"choices": [{"index": 0, "delta": {"content": 'say "error" and "usage"'},
                        "finish_reason": None}]}
    assert _plain_text(json.dumps(obj).encode())
