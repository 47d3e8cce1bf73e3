"""OpenAI Responses (`POST /v1/responses`): Codex CLI's format.

Request -> internal chat request: `instructions` and `input` (a string, or items: messages
of every role, `developer` and `system` becoming system messages, with `input_text`,
`output_text`, `refusal`, `input_image` and `input_file` parts; `function_call`,
`function_call_output`, `custom_tool_call`, `custom_tool_call_output`), function and
custom tools, tool_choice, parallel_tool_calls, max_output_tokens -> `max_tokens`,
temperature, top_p, reasoning.effort -> `reasoning_effort`, text.format ->
`response_format`, user / safety_identifier -> `user`. Tools without a chat equivalent
(namespace, web_search, file_search, mcp, local_shell, computer_use, ...) are dropped, as
are reasoning items and what only OpenAI's own service keeps (store, include,
prompt_cache_key, client_metadata, truncation, service_tier). The gateway keeps no
conversations: `previous_response_id`, `conversation` and `background` are a clear 400.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .. import _json
from ..errors import ProviderFallbackError
from ._base import Answered, Context, bad, chat_usage
from ._responses_stream import ResponsesEncoder
from ._responses_wire import (
    call_item,
    outcome,
    reasoning_item,
    response_envelope,
    responses_usage,
    text_part,
)

__all__ = ["RESPONSES", "ResponsesFormat"]

_SYSTEM_ROLES = {"system": "system", "developer": "system", "user": "user",
                 "assistant": "assistant"}
_NO_CONVERSATIONS = ("this gateway keeps no conversations (it behaves as with store: false): "
                     "send the whole conversation in `input` instead of `{}`")
_CUSTOM_INPUT = {"type": "object", "properties": {"input": {"type": "string"}},
                 "required": ["input"]}


class ResponsesFormat:
    name = "responses"

    def request(self, body: dict[str, Any], headers: Mapping[str, str]
                ) -> tuple[dict[str, Any], Context]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad("'model' is required and must be a string (a configured model alias)")
        for key in ("previous_response_id", "conversation"):
            if body.get(key):
                raise bad(f"'{key}' is not supported: " + _NO_CONVERSATIONS.format(key))
        if body.get("background") is True:
            raise bad("'background' is not supported: the gateway answers while you wait")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise bad("'stream' must be a boolean")
        messages: list[dict[str, Any]] = []
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            messages.append({"role": "system", "content": instructions})
        items = body.get("input")
        if isinstance(items, str):
            messages.append({"role": "user", "content": items})
        elif isinstance(items, list):
            _items(items, messages)
        elif items is not None:
            raise bad("'input' must be a string or an array of input items")
        if not any(m["role"] != "system" for m in messages):
            raise bad("'input' is required: a string or a non-empty array of input items")
        chat: dict[str, Any] = {"model": model, "messages": messages}
        custom = _tools(body, chat)
        limit = body.get("max_output_tokens")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            chat["max_tokens"] = limit
        for key in ("temperature", "top_p"):
            value = body.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                chat[key] = value
        reasoning = body.get("reasoning")
        effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
        if isinstance(effort, str) and effort not in ("none", ""):
            chat["reasoning_effort"] = "high" if effort == "xhigh" else effort
        _text_format(body.get("text"), chat)
        user = body.get("user") or body.get("safety_identifier")
        if isinstance(user, str) and user:
            chat["user"] = user
        if stream:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}
        return chat, Context("responses", model, stream, body, {}, chat, {"custom": custom})

    def answer(self, completion: Mapping[str, Any], ctx: Context, who: Answered) -> bytes:
        choices = completion.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        custom = ctx.extra.get("custom", frozenset())
        rid = who.request_id or f"{time.time_ns():x}"
        output: list[dict[str, Any]] = []
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            output.append(reasoning_item(f"rs_{rid}", reasoning))
        parts = []
        text = message.get("content")
        if isinstance(text, list):
            text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
        if isinstance(text, str) and text:
            parts.append(text_part(text))
        if isinstance(message.get("refusal"), str) and message["refusal"]:
            parts.append({"type": "refusal", "refusal": message["refusal"]})
        if parts:
            output.append({"type": "message", "id": f"msg_{rid}", "status": "completed",
                           "role": "assistant", "content": parts})
        for n, call in enumerate(message.get("tool_calls") or []):
            fn = call.get("function") or {}
            output.append(call_item(f"fc_{rid}_{n}", str(call.get("id") or f"call_{rid}_{n}"),
                                    str(fn.get("name") or ""), fn.get("arguments") or "",
                                    custom, "completed"))
        status, details = outcome(choice.get("finish_reason"))
        body = response_envelope(ctx, who, status, output)
        body["incomplete_details"] = details
        body["usage"] = responses_usage(chat_usage(completion))
        return _json.dumps(body)

    def encoder(self, ctx: Context, who: Answered) -> ResponsesEncoder:
        return ResponsesEncoder(ctx, who)

    def error(self, exc: ProviderFallbackError, request_id: str | None = None,
              facts: Any = None) -> tuple[int, dict[str, Any]]:
        return exc.http_status, exc.to_openai_error(facts)


RESPONSES = ResponsesFormat()


# -- request pieces -----------------------------------------------------------------------
def _items(items: list[Any], messages: list[dict[str, Any]]) -> None:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad(f"input[{i}] must be an object (an input item)")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            _message(item, i, messages)
        elif kind in ("function_call", "custom_tool_call"):
            arguments = item.get("arguments") if kind == "function_call" else \
                _json.dumps({"input": item.get("input", "")}).decode()
            call = {"id": str(item.get("call_id") or item.get("id") or ""), "type": "function",
                    "function": {"name": str(item.get("name", "")),
                                 "arguments": arguments if isinstance(arguments, str) else
                                 _json.dumps(arguments or {}).decode()}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id", "")),
                             "content": _output_text(item.get("output"))})
        # reasoning, web_search_call, item_reference, ...: nothing a chat target can take


def _message(item: dict[str, Any], i: int, messages: list[dict[str, Any]]) -> None:
    role = _SYSTEM_ROLES.get(str(item.get("role")))
    if role is None:
        raise bad(f"input[{i}].role must be one of user, assistant, system, developer")
    content = item.get("content")
    if isinstance(content, str):
        messages.append({"role": role, "content": content})
        return
    if not isinstance(content, list):
        raise bad(f"input[{i}].content must be a string or an array of content parts")
    parts: list[dict[str, Any]] = []
    for part in content:
        mapped = _part(part) if isinstance(part, dict) else None
        if mapped is not None:
            parts.append(mapped)
    if role != "user" or all(p["type"] == "text" for p in parts):
        text = "".join(p.get("text", "") for p in parts)   # parts of one message join as one text
        messages.append({"role": role, "content": text})
    else:
        messages.append({"role": role, "content": parts})


def _part(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal", ""))}
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and isinstance(part.get("file_data"), str):
        return {"type": "file", "file": {"filename": str(part.get("filename") or "file"),
                                         "file_data": part["file_data"]}}
    return None   # file ids live in OpenAI's storage: nothing to send a chat target


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
    return "" if output is None else _json.dumps(output).decode()


def _tools(body: Mapping[str, Any], chat: dict[str, Any]) -> frozenset[str]:
    custom: set[str] = set()
    functions = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        kind = tool.get("type")
        if kind == "function":
            params = tool.get("parameters")
            fn: dict[str, Any] = {"name": tool["name"], "parameters": params
                                  if isinstance(params, dict) else {"type": "object", "properties": {}}}
        elif kind == "custom":   # free-form input (Codex's apply_patch): one string argument
            custom.add(tool["name"])
            fn = {"name": tool["name"], "parameters": _CUSTOM_INPUT}
        else:
            continue   # namespace, web_search, file_search, mcp, local_shell, ...
        if isinstance(tool.get("description"), str):
            fn["description"] = tool["description"]
        functions.append({"type": "function", "function": fn})
    if not functions:
        return frozenset()
    chat["tools"] = functions
    choice = body.get("tool_choice")
    if choice in ("auto", "none", "required"):
        chat["tool_choice"] = choice
    elif isinstance(choice, dict):
        if choice.get("type") in ("function", "custom") and isinstance(choice.get("name"), str):
            chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        elif choice.get("type") == "allowed_tools" and choice.get("mode") in ("auto", "required"):
            chat["tool_choice"] = choice["mode"]
    if isinstance(body.get("parallel_tool_calls"), bool):
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    return frozenset(custom)


def _text_format(text: Any, chat: dict[str, Any]) -> None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        schema: dict[str, Any] = {"name": str(fmt.get("name") or "response"), "schema": fmt["schema"]}
        if isinstance(fmt.get("strict"), bool):
            schema["strict"] = fmt["strict"]
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
