"""Internal chat chunks -> OpenAI Responses stream events.

`response.created`, `response.in_progress`; per output item `response.output_item.added`,
its content (`response.content_part.added`, `response.output_text.delta` / `.done`,
`response.content_part.done`; `response.reasoning_text.delta` / `.done`;
`response.function_call_arguments.delta` / `.done`), `response.output_item.done`; then
`response.completed` (`response.incomplete` when the answer hit max_output_tokens), or
`response.failed` when the stream breaks after content. Every event carries its
`sequence_number`; items their `output_index` and `item_id`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .. import _json
from ..errors import ProviderFallbackError
from ._base import Answered, Context, chat_usage, sse, text_only
from ._responses_wire import (
    call_item,
    outcome,
    reasoning_item,
    response_envelope,
    responses_usage,
    text_part,
)

__all__ = ["ResponsesEncoder"]

_PING = b": keep-alive\n\n"


class _Item:
    """One output item being streamed."""

    __slots__ = ("call_id", "delta_head", "index", "item_id", "kind", "name", "parts")

    def __init__(self, kind: str, index: int, item_id: str, call_id: str = "",
                 name: str = "") -> None:
        self.kind = kind          # "message" | "reasoning" | "call"
        self.index = index
        self.item_id = item_id
        self.call_id = call_id
        self.name = name
        self.parts: list[str] = []
        # this item's part of every output_text.delta event, serialised once
        self.delta_head = (b',"item_id":' + _json.dumps(item_id) + b',"output_index":'
                           + str(index).encode() + b',"content_index":0,"delta":')


class ResponsesEncoder:
    def __init__(self, ctx: Context, who: Answered) -> None:
        self._ctx = ctx
        self._who = who
        self._rid = who.request_id or f"{time.time_ns():x}"
        self._custom = ctx.extra.get("custom", frozenset())
        self._seq = 0
        self._done: dict[int, dict[str, Any]] = {}   # output_index -> finished item
        self._count = 0                           # output items started
        self._text: _Item | None = None           # the open message or reasoning item
        self._calls: dict[int, _Item] = {}        # chat tool_call index -> open call item
        self._finish: Any = None
        self._usage: Mapping[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        fields["type"] = kind
        fields["sequence_number"] = self._seq
        self._seq += 1
        return sse(kind, fields)

    def start(self) -> bytes:
        # one serialisation for both events: the echoed request settings (Codex sends ~40 kB
        # of tool definitions) are the bulk of it
        skeleton = _json.dumps(response_envelope(self._ctx, self._who, "in_progress", []))
        out = b""
        for kind in ("response.created", "response.in_progress"):
            out += (b"event: " + kind.encode() + b'\ndata: {"type":"' + kind.encode()
                    + b'","sequence_number":' + str(self._seq).encode() + b',"response":'
                    + skeleton + b"}\n\n")
            self._seq += 1
        return out

    def ping(self) -> bytes:
        return _PING   # an SSE comment: the Responses stream has no ping event

    def feed(self, chunk: dict[str, Any]) -> bytes:
        fast = text_only(chunk)
        item = self._text
        if fast is not None and item is not None and item.kind == "message":
            # most chunks of a stream: more text for the open message
            item.parts.append(fast)
            self._seq += 1
            return (b'event: response.output_text.delta\ndata: {"type":'
                    b'"response.output_text.delta","sequence_number":'
                    + str(self._seq - 1).encode() + item.delta_head + _json.dumps(fast)
                    + b',"logprobs":[]}\n\n')
        out: list[bytes] = []
        usage = chat_usage(chunk)
        if usage is not None:
            self._usage = usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if len(delta) > 1 or "content" not in delta:   # the common chunk is text only
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning and isinstance(reasoning, str):
                    self._text_delta(out, "reasoning", reasoning)
            text = delta.get("content")
            if text and isinstance(text, str):
                self._text_delta(out, "message", text)
            calls = delta.get("tool_calls")
            if calls:
                for call in calls:
                    self._call_delta(out, call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
                self._close_all(out)
        return b"".join(out)

    def end(self, usage: Mapping[str, Any] | None) -> bytes:
        out: list[bytes] = []
        self._close_all(out)
        status, details = outcome(self._finish)
        final = response_envelope(self._ctx, self._who, status, self._output())
        final["incomplete_details"] = details
        final["usage"] = responses_usage(usage if usage is not None else self._usage)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=final))
        return b"".join(out)

    def error(self, exc: ProviderFallbackError, facts: Any = None) -> bytes:
        err = exc.to_openai_error(facts)["error"]
        err.pop("param", None)
        err.pop("type", None)
        final = response_envelope(self._ctx, self._who, "failed", self._output())
        final["error"] = err
        final["usage"] = responses_usage(self._usage)
        return self._event("response.failed", response=final)

    # -- items ----------------------------------------------------------------------------
    def _text_delta(self, out: list[bytes], kind: str, text: str) -> None:
        item = self._text
        if item is None or item.kind != kind:
            self._close_text(out)
            item = self._text = self._start(out, kind)
        item.parts.append(text)
        if kind == "message":
            # the hot path, written directly: the same JSON _event() would make
            out.append(b'event: response.output_text.delta\ndata: {"type":'
                       b'"response.output_text.delta","sequence_number":'
                       + str(self._seq).encode() + item.delta_head + _json.dumps(text)
                       + b',"logprobs":[]}\n\n')
            self._seq += 1
        else:
            out.append(self._event("response.reasoning_text.delta", item_id=item.item_id,
                                   output_index=item.index, content_index=0, delta=text))

    def _start(self, out: list[bytes], kind: str) -> _Item:
        index = self._count
        self._count += 1
        if kind == "message":
            item = _Item(kind, index, f"msg_{self._rid}_{index}")
            added: dict[str, Any] = {"type": "message", "id": item.item_id,
                                     "status": "in_progress", "role": "assistant", "content": []}
            part = text_part("")
        else:
            item = _Item(kind, index, f"rs_{self._rid}_{index}")
            added = {"type": "reasoning", "id": item.item_id, "summary": [], "content": []}
            part = {"type": "reasoning_text", "text": ""}
        out.append(self._event("response.output_item.added", output_index=index, item=added))
        out.append(self._event("response.content_part.added", item_id=item.item_id,
                               output_index=index, content_index=0, part=part))
        return item

    def _close_text(self, out: list[bytes]) -> None:
        item, self._text = self._text, None
        if item is None:
            return
        text = "".join(item.parts)
        if item.kind == "message":
            out.append(self._event("response.output_text.done", item_id=item.item_id,
                                   output_index=item.index, content_index=0, text=text,
                                   logprobs=[]))
            part = text_part(text)
            done: dict[str, Any] = {"type": "message", "id": item.item_id, "status": "completed",
                                    "role": "assistant", "content": [part]}
        else:
            out.append(self._event("response.reasoning_text.done", item_id=item.item_id,
                                   output_index=item.index, content_index=0, text=text))
            done = reasoning_item(item.item_id, text)
            part = done["content"][0]
        out.append(self._event("response.content_part.done", item_id=item.item_id,
                               output_index=item.index, content_index=0, part=part))
        self._finish_item(out, item.index, done)

    def _call_delta(self, out: list[bytes], call: Mapping[str, Any]) -> None:
        position = call.get("index", 0)
        fn = call.get("function") or {}
        item = self._calls.get(position)
        if item is None:
            self._close_text(out)
            index = self._count
            self._count += 1
            item = _Item("call", index, f"fc_{self._rid}_{index}",
                         str(call.get("id") or f"call_{self._rid}_{index}"),
                         str(fn.get("name") or ""))
            self._calls[position] = item
            added = call_item(item.item_id, item.call_id, item.name, "", self._custom,
                              "in_progress")
            out.append(self._event("response.output_item.added", output_index=index,
                                   item=added))
        arguments = fn.get("arguments")
        if arguments and isinstance(arguments, str):
            item.parts.append(arguments)
            if item.name not in self._custom:   # a custom tool's input is sent whole, at the end
                out.append(self._event("response.function_call_arguments.delta",
                                       item_id=item.item_id, output_index=item.index,
                                       delta=arguments))

    def _close_all(self, out: list[bytes]) -> None:
        self._close_text(out)
        calls, self._calls = self._calls, {}
        for item in sorted(calls.values(), key=lambda it: it.index):
            arguments = "".join(item.parts)
            done = call_item(item.item_id, item.call_id, item.name, arguments, self._custom,
                             "completed")
            if done["type"] == "custom_tool_call":
                out.append(self._event("response.custom_tool_call_input.delta",
                                       item_id=item.item_id, output_index=item.index,
                                       delta=done["input"]))
                out.append(self._event("response.custom_tool_call_input.done",
                                       item_id=item.item_id, output_index=item.index,
                                       input=done["input"]))
            else:
                out.append(self._event("response.function_call_arguments.done",
                                       item_id=item.item_id, output_index=item.index,
                                       name=item.name, arguments=arguments))
            self._finish_item(out, item.index, done)

    def _finish_item(self, out: list[bytes], index: int, item: dict[str, Any]) -> None:
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        self._done[index] = item

    def _output(self) -> list[dict[str, Any]]:
        return [self._done[i] for i in sorted(self._done)]
