"""The `api: anthropic` dialect: Anthropic's Messages API (or any compatible endpoint).

A client that spoke Messages is forwarded as it came (its body, `anthropic-version` and
`anthropic-beta`), with only the model replaced; a chat-completions request is translated:
system messages -> `system`, content parts -> blocks (image_url -> image, file -> document),
tool_calls -> tool_use, tool messages -> tool_result, tools -> input_schema, tool_choice,
stop -> stop_sequences, max_tokens (4096 when unset: Anthropic requires it), temperature
(capped at 1), top_p, top_k, user -> metadata.user_id, reasoning_effort -> thinking with a
budget inside max_tokens. Answers and stream events come back as chat completions and
chunks, thinking as `reasoning_content` + `reasoning_signature`, cache token counts in usage.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import _json
from ..config import ProviderSpec
from ._dialects import Origin, static_headers

if TYPE_CHECKING:
    from ._anthropic_stream import MessagesStreamDecoder

__all__ = ["ANTHROPIC", "ANTHROPIC_VERSION", "AnthropicDialect", "chat_completion", "to_messages"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024
_EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
           "tool_use": "tool_calls", "pause_turn": "stop", "refusal": "content_filter",
           "model_context_window_exceeded": "length"}


class AnthropicDialect:
    name = "anthropic"

    def path(self, endpoint: str) -> str:
        return "/messages" if endpoint == "/chat/completions" else endpoint

    def auth_headers(self, provider: ProviderSpec,
                     client_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        version = (client_headers or {}).get("anthropic-version") or ANTHROPIC_VERSION
        headers = {"anthropic-version": version}
        if provider.api_key is not None:
            headers["x-api-key"] = provider.api_key.reveal()
        return headers

    def headers(self, provider: ProviderSpec, stream: bool,
                client_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if stream else "application/json",
                   **static_headers(provider), **self.auth_headers(provider, client_headers)}
        beta = (client_headers or {}).get("anthropic-beta")
        if beta:
            configured = next((v for k, v in headers.items() if k.lower() == "anthropic-beta"), "")
            headers = {k: v for k, v in headers.items() if k.lower() != "anthropic-beta"}
            headers["anthropic-beta"] = f"{configured},{beta}" if configured else beta
        return headers

    def encode(self, chat_body: Mapping[str, Any], origin: Origin | None = None) -> bytes:
        if origin is not None and origin.protocol == "messages" and (
                origin.chat_messages is None or chat_body.get("messages") is origin.chat_messages
                or chat_body.get("messages") == origin.chat_messages):
            body = {**origin.body, "model": chat_body.get("model", origin.body.get("model"))}
            return _json.dumps_kept(_without_unsigned_thinking(body))
        return _json.dumps_kept(to_messages(chat_body))

    def answer(self, raw: bytes) -> dict[str, Any]:
        parsed = _json.loads(raw)
        if not isinstance(parsed, dict):
            return {"error": {"message": "answer is not a JSON object"}}
        if parsed.get("type") == "error" or "content" not in parsed:
            return parsed if "error" in parsed else {"error": {"message": "not a Messages answer"}}
        return chat_completion(parsed)

    def stream_decoder(self) -> MessagesStreamDecoder:
        from ._anthropic_stream import MessagesStreamDecoder

        return MessagesStreamDecoder()


ANTHROPIC = AnthropicDialect()


# -- chat request -> Messages request -----------------------------------------------------
def to_messages(chat: Mapping[str, Any]) -> dict[str, Any]:
    """A chat-completions body as a Messages body (fields without an equivalent dropped)."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in chat.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = _text(content)
            if text:
                system.append(text)
        elif role == "user":
            _append(messages, "user", _blocks(content))
        elif role == "assistant":
            _append(messages, "assistant", _assistant_blocks(message))
        elif role in ("tool", "function"):
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": str(
                message.get("tool_call_id") or message.get("name") or "")}
            blocks = _blocks(content)
            if blocks:
                result["content"] = blocks
            _append(messages, "user", [result])
    limit = chat.get("max_completion_tokens") or chat.get("max_tokens")
    body: dict[str, Any] = {"model": chat.get("model"), "messages": messages,
                            "max_tokens": limit if isinstance(limit, int) and limit > 0
                            else DEFAULT_MAX_TOKENS}
    if system:
        body["system"] = "\n\n".join(system)
    stop = chat.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s.strip()]
    if stops:
        body["stop_sequences"] = stops
    temperature = chat.get("temperature")
    if isinstance(temperature, int | float):
        body["temperature"] = min(float(temperature), 1.0)   # Anthropic's range is 0..1
    for key in ("top_p", "top_k"):
        if isinstance(chat.get(key), int | float):
            body[key] = chat[key]
    if isinstance(chat.get("user"), str):
        body["metadata"] = {"user_id": chat["user"]}
    _tools(chat, body)
    _thinking(chat.get("reasoning_effort"), body)
    if chat.get("stream"):
        body["stream"] = True
    return body


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return   # Anthropic refuses empty messages
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content
                         if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            blocks.append({"type": "text", "text": str(part["text"])})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str):
                blocks.append({"type": "image", "source": _source(url, "image/png")})
        elif kind == "file" and isinstance(part.get("file"), dict):
            data = part["file"].get("file_data")
            if isinstance(data, str):
                blocks.append({"type": "document", "source": _source(data, "application/pdf")})
    return blocks


def _source(url: str, default_media: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        media, _, data = url[5:].partition(";base64,")
        return {"type": "base64", "media_type": media or default_media, "data": data}
    return {"type": "url", "url": url}


def _assistant_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    kept = message.get("reasoning_blocks")
    if isinstance(kept, list):
        blocks.extend(b for b in kept if isinstance(b, dict) and b.get("signature", True))
    elif message.get("reasoning_signature") and isinstance(message.get("reasoning_content"), str):
        blocks.append({"type": "thinking", "thinking": message["reasoning_content"],
                       "signature": message["reasoning_signature"]})
    blocks.extend(_blocks(message.get("content")))
    for call in message.get("tool_calls") or ():
        if not isinstance(call, dict):
            continue
        fn = call.get("function") or {}
        try:
            arguments = _json.loads(fn.get("arguments") or "{}")
        except _json.JSONDecodeError:
            arguments = {"_raw_arguments": fn.get("arguments")}
        blocks.append({"type": "tool_use", "id": str(call.get("id") or ""),
                       "name": str(fn.get("name") or ""),
                       "input": arguments if isinstance(arguments, dict) else {"value": arguments}})
    return blocks


def _tools(chat: Mapping[str, Any], body: dict[str, Any]) -> None:
    tools = []
    for tool in chat.get("tools") or ():
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            entry: dict[str, Any] = {"name": fn["name"], "input_schema": fn.get("parameters")
                                     or {"type": "object", "properties": {}}}
            if isinstance(fn.get("description"), str):
                entry["description"] = fn["description"]
            tools.append(entry)
    if not tools:
        return
    body["tools"] = tools
    choice = chat.get("tool_choice")
    mapped: dict[str, Any] | None = None
    if choice in ("auto", "required", "none"):
        mapped = {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        mapped = {"type": "tool", "name": str(choice["function"].get("name", ""))}
    if chat.get("parallel_tool_calls") is False:
        mapped = mapped or {"type": "auto"}
        if mapped["type"] != "none":
            mapped["disable_parallel_tool_use"] = True
    if mapped is not None:
        body["tool_choice"] = mapped


def _thinking(effort: Any, body: dict[str, Any]) -> None:
    budget = _EFFORT_BUDGET.get(effort) if isinstance(effort, str) else None
    if budget is None:
        return
    # thinking counts inside max_tokens, as reasoning does inside OpenAI's completion tokens
    budget = min(budget, body["max_tokens"] - 1)
    if budget < MIN_THINKING_BUDGET:
        return
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    for key in ("temperature", "top_k", "top_p"):   # thinking requires the defaults
        body.pop(key, None)


def _without_unsigned_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """Thinking blocks another target produced carry no signature Anthropic would accept."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    changed = False
    cleaned = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "thinking" and not b.get("signature")
                for b in content):
            message = {**message, "content": [b for b in content if not (
                isinstance(b, dict) and b.get("type") == "thinking" and not b.get("signature"))]}
            changed = True
        cleaned.append(message)
    return {**body, "messages": cleaned} if changed else body


# -- Messages answer -> chat completion ---------------------------------------------------
def chat_usage(usage: Any) -> dict[str, Any]:
    """OpenAI usage from Anthropic's: prompt = input + cache reads + cache writes."""
    if not isinstance(usage, dict):
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    fresh = _count(usage.get("input_tokens"))
    read, written = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
    prompt = fresh + _count(read) + _count(written)
    completion = _count(usage.get("output_tokens"))
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": prompt + completion}
    if isinstance(read, int):
        out["cache_read_input_tokens"] = read
        out["prompt_tokens_details"] = {"cached_tokens": read}
    if isinstance(written, int):
        out["cache_creation_input_tokens"] = written
    return out


def chat_completion(message: Mapping[str, Any]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append({"id": str(block.get("id", "")), "type": "function",
                          "function": {"name": str(block.get("name", "")),
                                       "arguments": _json.dumps(block.get("input") or {}).decode()}})
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(dict(block))
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        reply["tool_calls"] = calls
    if thinking:
        reply["reasoning_content"] = "".join(b.get("thinking", "") for b in thinking)
        signed = [b["signature"] for b in thinking if b.get("signature")]
        if signed:
            reply["reasoning_signature"] = signed[-1]
        reply["reasoning_blocks"] = thinking
    reason = message.get("stop_reason")
    choice: dict[str, Any] = {"index": 0, "message": reply,
                              "finish_reason": _FINISH.get(str(reason), "stop")}
    if reason == "stop_sequence" and isinstance(message.get("stop_sequence"), str):
        choice["stop_reason"] = message["stop_sequence"]
    return {"id": str(message.get("id", "")), "object": "chat.completion",
            "created": int(time.time()), "model": str(message.get("model", "")),
            "choices": [choice], "usage": chat_usage(message.get("usage"))}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
