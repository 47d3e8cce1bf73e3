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


# -- the byte look: a chunk recognised by the bytes around its text, never parsed -------------

from provider_fallback.routing._stream import _shape_of, _text_between  # noqa: E402


def _dumps(obj: dict, ascii_only: bool) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=ascii_only).encode()


def _usual(content: str) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "logprobs": None,
                         "finish_reason": None}]}


@settings(max_examples=500, deadline=None)
@given(st.text(min_size=1, max_size=20), chunk, st.booleans())
def test_a_chunk_taken_by_its_bytes_is_a_text_only_chunk(first, other, ascii_only):
    shape = _shape_of(_dumps(_usual(first), ascii_only))
    assert shape is not None
    data = _dumps(other, ascii_only)
    pre, suf = shape
    if data.startswith(pre) and data.endswith(suf) and len(data) >= len(pre) + len(suf):
        text = _text_between(data, len(pre), len(data) - len(suf))
        if text is not None:
            assert _text_only(other)
            assert text == (other["choices"][0]["delta"].get("content") or "")


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=24))
def test_any_bytes_between_are_text_only_when_taken(middle):
    """Whatever an upstream puts between the bytes of the shape, a text the look returns
    is what a JSON parser reads there, and the chunk is a valid text-only chunk."""
    pre, suf = _shape_of(_dumps(_usual("Hello"), True))
    data = pre + middle + suf
    text = _text_between(data, len(pre), len(data) - len(suf))
    if text is not None:
        obj = json.loads(data)   # strict: no raw control characters, valid escapes
        assert _only_text(obj) == text


def test_escapes_quotes_and_unicode_are_decoded():
    pre, suf = _shape_of(_dumps(_usual("x"), True))
    for text in ['say "hi"', "back\\slash", "line\nnext", "tab\t", "é ü 漢字 🙂", "\\", '"']:
        for ascii_only in (True, False):
            data = _dumps(_usual(text), ascii_only)
            assert data.startswith(pre) and data.endswith(suf)
            assert _text_between(data, len(pre), len(data) - len(suf)) == text


def test_no_shape_when_content_is_ambiguous():
    twice = b'{"a":{"content":"x"},"choices":[{"index":0,"delta":{"content":"y"}}]}'
    assert _shape_of(twice) is None
    assert _shape_of(b'{"choices":[{"delta":{"content": "spaced"}}]}') is None
    escaped_end = _dumps(_usual('ends with a quote "'), True)
    pre, suf = _shape_of(escaped_end)
    assert suf.startswith(b'"}')


class _Taker:
    """What UpstreamStream._texts reads and writes of its stream."""

    def __init__(self) -> None:
        self._ready: list[tuple[bytes, None]] = []
        self._chars = 0


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=12), st.text(max_size=6).map(str.encode),
                          st.sampled_from([b"plain", b"a b c", b"", b"\\n", b'\\"', b"\xc3",
                                           b"\xa9", b"x\\", b'","'])),
                max_size=8))
def test_a_run_of_events_is_taken_as_one_at_a_time_would(middles):
    """The run of same-shaped events is taken in one step when it is plain ASCII, else
    one at a time: either way exactly the leading events that are valid text-only chunks
    are taken, their texts in order (a character split over two events, an escape cut at
    an event's end, a quote: never taken)."""
    from provider_fallback.routing._stream import UpstreamStream

    pre, suf = _shape_of(_dumps(_usual("Hello"), True))
    events = [pre + m + suf for m in middles] + [b'{"choices":[]}']
    taker, text0 = _Taker(), []
    end = UpstreamStream._texts(taker, events, 0, (pre, suf), text0)   # type: ignore[arg-type]
    expected: list[str] = []
    for data in events:
        text = _text_between(data, len(pre), len(data) - len(suf)) \
            if data.startswith(pre) and data.endswith(suf) else None
        if text is None:
            break
        expected.append(text)
    assert end == len(expected)
    assert [raw for raw, _ in taker._ready] == events[:end]
    assert "".join(text0) == "".join(expected) and taker._chars == len("".join(expected))
    for raw in events[:end]:
        assert _only_text(json.loads(raw)) is not None


_MIDDLE = st.one_of(st.binary(max_size=12), st.text(max_size=6).map(str.encode),
                    st.sampled_from([b"plain", b"a b c", b"", b"\n", b"\\n", b'\\"', b"\xc3",
                                     b"x\\", b'","']))


@settings(max_examples=1500, deadline=None)
@given(st.integers(0, 2), _MIDDLE,
       st.lists(st.one_of(_MIDDLE.map(lambda m: ("shaped", m)),
                          st.sampled_from([b'{"choices":[]}', b"[DONE]", b"", b"\n", b'"}]}',
                                           b'x"}]}']).map(lambda raw: ("raw", raw))),
                max_size=10))
def test_events_of_the_shape_anywhere_in_a_block_are_taken_as_one_at_a_time_would(
        start, first, rest):
    """Events of other shapes (and ones ending like the shape) before, among and after
    the text chunks: whatever the block, exactly the events from `start` up to the
    first that is not a valid text-only chunk of the shape are taken."""
    from provider_fallback.routing._stream import UpstreamStream

    pre, suf = _shape_of(_dumps(_usual("Hello"), True))
    shaped = [pre + m + suf if kind == "shaped" else m for kind, m in rest]
    events = [b"[DONE]"] * start + [pre + first + suf] + shaped   # events[start] has the shape
    taker, text0 = _Taker(), []
    end = UpstreamStream._texts(taker, events, start, (pre, suf), text0)   # type: ignore[arg-type]
    expected: list[str] = []
    for data in events[start:]:
        text = _text_between(data, len(pre), len(data) - len(suf)) \
            if data.startswith(pre) and data.endswith(suf) else None
        if text is None:
            break
        expected.append(text)
    assert end == start + len(expected)
    assert [raw for raw, _ in taker._ready] == events[start:end]
    assert "".join(text0) == "".join(expected) and taker._chars == len("".join(expected))
