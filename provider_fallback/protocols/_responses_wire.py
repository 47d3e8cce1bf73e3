"""Responses wire shapes shared by the answer and its stream: items, envelope, usage."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .. import _json
from ._base import Answered, Context, arguments_object, usage_numbers

__all__ = ["call_item", "outcome", "reasoning_item", "response_envelope", "responses_usage",
           "text_part"]

_ECHOED = ("instructions", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p",
           "max_output_tokens", "reasoning", "text", "metadata", "user", "truncation")


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    # chat reasoning is the model's raw reasoning, not a summary: reasoning_text content
    return {"type": "reasoning", "id": item_id, "summary": [],
            "content": [{"type": "reasoning_text", "text": text}]}


def call_item(item_id: str, call_id: str, name: str, arguments: str, custom: Any,
              status: str) -> dict[str, Any]:
    """A function_call item; a call of a custom tool (mapped to a function taking one
    `input` string) goes back as the custom_tool_call the client defined."""
    if name in custom:
        raw = arguments_object(arguments).get("input", "")
        return {"type": "custom_tool_call", "id": item_id, "call_id": call_id, "name": name,
                "input": raw if isinstance(raw, str) else _json.dumps(raw).decode(),
                "status": status}
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def outcome(finish: Any) -> tuple[str, dict[str, Any] | None]:
    if finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_envelope(ctx: Context, who: Answered, status: str,
                      output: list[dict[str, Any]]) -> dict[str, Any]:
    """A Response object: ids, status, output and the request settings it echoes."""
    body: dict[str, Any] = {"id": f"resp_{who.request_id}", "object": "response",
                            "created_at": int(ctx.extra.setdefault("created", int(time.time()))),
                            "status": status, "model": who.model or ctx.model,
                            "output": output, "error": None, "incomplete_details": None,
                            "previous_response_id": None, "store": False, "usage": None}
    for key in _ECHOED:
        if key in ctx.body:
            body[key] = ctx.body[key]
    body.setdefault("tools", [])
    body.setdefault("tool_choice", "auto")
    body.setdefault("parallel_tool_calls", True)
    body.setdefault("metadata", {})
    return body


def responses_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    prompt, completion, cache_read, _, reasoning = usage_numbers(usage)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cache_read or 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": reasoning or 0},
            "total_tokens": prompt + completion}
