"""Internal chat chunks -> Anthropic Messages stream events, in Anthropic's order.

`message_start`, then per content block `content_block_start` / `content_block_delta`
(`thinking_delta` + `signature_delta`, `text_delta`, `input_json_delta`) /
`content_block_stop`, then `message_delta` (stop_reason, usage) and `message_stop`;
`ping` while the upstream is silent; `event: error` when the stream breaks after content.
One block is open at a time: a new kind of content closes the one before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import _json
from ..errors import ProviderFallbackError
from ._base import chat_usage, sse, text_only
from ._messages_wire import anthropic_error, anthropic_usage, stop_reason

__all__ = ["MessagesEncoder"]

_PING = sse("ping", {"type": "ping"})


class MessagesEncoder:
    """One Messages stream. `feed` takes internal chunk dicts, returns SSE bytes."""

    __slots__ = ("_block", "_finish", "_id", "_index", "_kind", "_matched", "_model",
                 "_signed", "_stops", "_tools", "_usage")

    def __init__(self, message_id: str, model: str, stops: Sequence[str] = ()) -> None:
        self._id = message_id
        self._model = model
        self._stops = stops
        self._index = -1                # index of the last block started
        self._kind: str | None = None   # kind of the open block, None when none is open
        self._block = -1
        self._signed = False            # the open thinking block has its signature
        self._tools: dict[int, int] = {}   # chat tool_call index -> block index
        self._finish: Any = None
        self._matched: Any = None
        self._usage: Mapping[str, Any] | None = None

    def start(self) -> bytes:
        message = {"id": self._id, "type": "message", "role": "assistant", "model": self._model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 0, "output_tokens": 0}}
        return sse("message_start", {"type": "message_start", "message": message}) + _PING

    def ping(self) -> bytes:
        return _PING

    def feed(self, chunk: dict[str, Any]) -> bytes:
        if self._kind == "text":
            fast = text_only(chunk)
            if fast is not None:   # most chunks of a stream: more text for the open block
                return (b'event: content_block_delta\ndata: {"type":"content_block_delta",'
                        b'"index":' + str(self._block).encode() + b',"delta":{"type":'
                        b'"text_delta","text":' + _json.dumps(fast) + b"}}\n\n")
        out: list[bytes] = []
        usage = chat_usage(chunk)
        if usage is not None:
            self._usage = usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue   # Messages has one answer per request
            delta = choice.get("delta") or {}
            if len(delta) > 1 or "content" not in delta:   # the common chunk is text only
                self._reasoning(delta, out)
            text = delta.get("content")
            if text:
                if self._kind != "text":
                    self._open(out, "text", {"type": "text", "text": ""})
                # the hot path, written directly: the same JSON sse() would make
                out.append(b'event: content_block_delta\ndata: {"type":"content_block_delta",'
                           b'"index":' + str(self._block).encode() + b',"delta":{"type":'
                           b'"text_delta","text":' + _json.dumps(text) + b"}}\n\n")
            for call in delta.get("tool_calls") or ():
                self._tool(call, out)
            finish = choice.get("finish_reason")
            if finish:
                self._finish = finish
                self._matched = choice.get("stop_reason")
                self._close(out)
        return b"".join(out)

    def end(self, usage: Mapping[str, Any] | None) -> bytes:
        out: list[bytes] = []
        self._close(out)
        reason, sequence = stop_reason(self._finish, bool(self._tools), self._matched, self._stops)
        out.append(sse("message_delta", {
            "type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": anthropic_usage(usage if usage is not None else self._usage)}))
        out.append(sse("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def error(self, exc: ProviderFallbackError, facts: Any = None) -> bytes:
        out: list[bytes] = []
        self._close(out)
        out.append(sse("error", anthropic_error(exc, facts)))
        return b"".join(out)

    # -- blocks ---------------------------------------------------------------------------
    def _reasoning(self, delta: Mapping[str, Any], out: list[bytes]) -> None:
        text = delta.get("reasoning_content") or delta.get("reasoning")
        if text and isinstance(text, str):
            if self._kind != "thinking" or self._signed:
                self._open(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out.append(self._delta({"type": "thinking_delta", "thinking": text}))
        signature = delta.get("reasoning_signature")
        if signature and isinstance(signature, str):
            if self._kind != "thinking" or self._signed:
                self._open(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out.append(self._delta({"type": "signature_delta", "signature": signature}))
            self._signed = True
        redacted = delta.get("reasoning_redacted")
        if redacted and isinstance(redacted, str):
            self._open(out, "redacted", {"type": "redacted_thinking", "data": redacted})
            self._close(out)

    def _tool(self, call: Mapping[str, Any], out: list[bytes]) -> None:
        position = call.get("index", 0)
        fn = call.get("function") or {}
        block = self._tools.get(position)
        if block is None:
            self._open(out, "tool", {"type": "tool_use",
                                     "id": call.get("id") or f"toolu_{self._id}_{position}",
                                     "name": fn.get("name") or "", "input": {}})
            block = self._tools[position] = self._index
        arguments = fn.get("arguments")
        if arguments:
            # a late piece of an earlier call (rare interleaving) still goes to its own index
            out.append(sse("content_block_delta", {
                "type": "content_block_delta", "index": block,
                "delta": {"type": "input_json_delta", "partial_json": arguments}}))

    def _open(self, out: list[bytes], kind: str, block: dict[str, Any]) -> None:
        self._close(out)
        self._index += 1
        self._block = self._index
        self._kind = kind
        self._signed = False
        out.append(sse("content_block_start", {"type": "content_block_start",
                                               "index": self._index, "content_block": block}))

    def _close(self, out: list[bytes]) -> None:
        if self._kind is not None:
            out.append(sse("content_block_stop", {"type": "content_block_stop",
                                                  "index": self._block}))
            self._kind = None

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse("content_block_delta", {"type": "content_block_delta", "index": self._block,
                                           "delta": delta})
