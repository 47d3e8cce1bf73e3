"""Anthropic Messages stream events -> chat-completion chunk dicts (the `api: anthropic`
dialect's stream decoder): text and thinking deltas, tool_use blocks as tool_calls with
their arguments in pieces, signatures and redacted thinking as extra delta keys, the stop
reason as finish_reason, usage (cache reads and writes included) in a last chunk, and an
`error` event left as it is for the loop's classifier.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .. import _json
from ._anthropic import _FINISH, chat_usage

__all__ = ["MessagesStreamDecoder"]


class MessagesStreamDecoder:
    """Feed each SSE `data:` payload of a Messages stream; get chat chunk dicts back."""

    __slots__ = ("_base", "_tools", "_usage", "done")

    def __init__(self) -> None:
        self.done = False
        self._base: dict[str, Any] = {"id": "", "object": "chat.completion.chunk",
                                      "created": int(time.time()), "model": ""}
        self._tools: dict[int, int] = {}         # block index -> chat tool_call index
        self._usage: dict[str, Any] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None,
               **extra: Any) -> dict[str, Any]:
        return {**self._base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                           **extra}]}

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        event = _json.loads(data)
        if not isinstance(event, dict):
            return []
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event.get("index"), event.get("delta") or {})
        if kind == "content_block_start":
            return self._start(event.get("index"), event.get("content_block") or {})
        if kind == "message_start":
            message = event.get("message") or {}
            self._base["id"] = str(message.get("id", ""))
            self._base["model"] = str(message.get("model", ""))
            self._usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            self._usage.update({k: v for k, v in (event.get("usage") or {}).items()
                                if v is not None})
            delta = event.get("delta") or {}
            reason = delta.get("stop_reason")
            extra = {"stop_reason": delta["stop_sequence"]} if reason == "stop_sequence" \
                and isinstance(delta.get("stop_sequence"), str) else {}
            return [self._chunk({}, _FINISH.get(str(reason), "stop"), **extra),
                    {**self._base, "choices": [], "usage": chat_usage(self._usage)}]
        if kind == "message_stop":
            self.done = True
        elif kind == "error" or "error" in event:
            return [event]   # the loop classifies it like any in-band error
        return []   # ping, content_block_stop, unknown events

    def _start(self, index: Any, block: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "tool_use":
            position = self._tools[index] = len(self._tools)
            initial = block.get("input")
            return [self._chunk({"tool_calls": [{
                "index": position, "id": str(block.get("id", "")), "type": "function",
                "function": {"name": str(block.get("name", "")),
                             "arguments": _json.dumps(initial).decode() if initial else ""}}]})]
        if kind == "thinking" and block.get("thinking"):
            return [self._chunk({"reasoning_content": block["thinking"]})]
        if kind == "redacted_thinking" and block.get("data"):
            return [self._chunk({"reasoning_redacted": block["data"]})]
        return []

    def _delta(self, index: Any, delta: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "input_json_delta" and delta.get("partial_json") and index in self._tools:
            return [self._chunk({"tool_calls": [{"index": self._tools[index], "function": {
                "arguments": delta["partial_json"]}}]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "signature_delta" and delta.get("signature"):
            return [self._chunk({"reasoning_signature": delta["signature"]})]
        return []
