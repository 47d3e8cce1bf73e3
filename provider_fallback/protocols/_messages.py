"""Anthropic Messages (`POST /v1/messages`): Claude Code's and the anthropic SDK's format.

Request -> internal chat request: system (string or text blocks, cache_control dropped),
messages of content blocks (text, image, document, tool_use, tool_result incl. is_error and
its own blocks; a `role: "system"` message anywhere), tools with input_schema, tool_choice,
stop_sequences, max_tokens, temperature, top_p, top_k (as the extra field `top_k`),
metadata.user_id -> `user`, thinking -> `reasoning_effort`. Thinking blocks of earlier
turns, Anthropic-defined tools (bash_*, web_search_*, ...) and Anthropic-only settings
(context_management, output_config, service_tier, container, mcp_servers) have no chat
equivalent and are dropped; an Anthropic-native target receives the client's own body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _json
from ..errors import ProviderFallbackError
from ._base import Answered, Context, arguments_object, bad, chat_usage
from ._messages_stream import MessagesEncoder
from ._messages_wire import anthropic_error, anthropic_usage, message_id, stop_reason

__all__ = ["MESSAGES", "MessagesFormat"]

# thinking.budget_tokens below each bound -> that reasoning_effort; above all: "high"
_EFFORT_BOUNDS = ((4096, "low"), (16384, "medium"))
_HEADERS = ("anthropic-version", "anthropic-beta")


class MessagesFormat:
    name = "messages"

    def request(self, body: dict[str, Any], headers: Mapping[str, str]
                ) -> tuple[dict[str, Any], Context]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad("model: Field required (a string: a configured model alias)")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad("messages: Field required (a non-empty array of messages)")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise bad("stream: Input should be a valid boolean")
        chat: dict[str, Any] = {"model": model, "messages": _system(body.get("system"))}
        for i, message in enumerate(messages):
            chat["messages"].extend(_message(message, i))
        max_tokens = body.get("max_tokens")
        if max_tokens is not None:
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
                raise bad("max_tokens: Input should be a positive integer")
            chat["max_tokens"] = max_tokens
        for key in ("temperature", "top_p", "top_k"):
            value = body.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                chat[key] = value
        stops = body.get("stop_sequences")
        if isinstance(stops, list) and stops:
            chat["stop"] = [s for s in stops if isinstance(s, str)]
        _tools(body, chat)
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
            chat["user"] = metadata["user_id"]
        effort = _effort(body.get("thinking"))
        if effort is not None:
            chat["reasoning_effort"] = effort
        if stream:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}
        kept = {h: headers[h] for h in _HEADERS if h in headers}
        ctx = Context("messages", model, stream, body, kept, chat,
                      {"stops": tuple(chat.get("stop", ()))})
        return chat, ctx

    def answer(self, completion: Mapping[str, Any], ctx: Context, who: Answered) -> bytes:
        choices = completion.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        content = _thinking_blocks(message)
        text = message.get("content")
        if isinstance(text, list):   # content parts: keep their text
            text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
        if isinstance(text, str) and text:
            content.append({"type": "text", "text": text})
        if isinstance(message.get("refusal"), str) and message["refusal"]:
            content.append({"type": "text", "text": message["refusal"]})
        calls = message.get("tool_calls") or []
        if not calls and isinstance(message.get("function_call"), dict):
            calls = [{"function": message["function_call"]}]   # legacy functions API
        for n, call in enumerate(calls):
            fn = call.get("function") or {}
            content.append({"type": "tool_use", "id": call.get("id") or f"toolu_{who.request_id}_{n}",
                            "name": fn.get("name") or "",
                            "input": arguments_object(fn.get("arguments"))})
        reason, sequence = stop_reason(choice.get("finish_reason"), bool(calls),
                                       choice.get("stop_reason"), ctx.extra.get("stops", ()))
        out = {"id": message_id(who), "type": "message", "role": "assistant",
               "model": who.model or str(completion.get("model") or ctx.model),
               "content": content, "stop_reason": reason, "stop_sequence": sequence,
               "usage": anthropic_usage(chat_usage(completion))}
        return _json.dumps(out)

    def encoder(self, ctx: Context, who: Answered) -> MessagesEncoder:
        return MessagesEncoder(message_id(who), who.model or ctx.model,
                               ctx.extra.get("stops", ()))

    def error(self, exc: ProviderFallbackError, request_id: str | None = None,
              facts: Any = None) -> tuple[int, dict[str, Any]]:
        body = anthropic_error(exc, facts)
        if request_id:
            body["request_id"] = request_id
        return exc.http_status, body


MESSAGES = MessagesFormat()


# -- request pieces -----------------------------------------------------------------------
def _system(system: Any) -> list[dict[str, Any]]:
    if system is None or system == "" or system == []:
        return []
    text = _text_of(system, "system")
    return [{"role": "system", "content": text}] if text else []


def _text_of(content: Any, where: str) -> str:
    """Text of a string or a list of text blocks (other blocks have no place in a system)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad(f"{where}: Input should be a string or an array of text blocks")
    return "\n".join(b["text"] for b in content
                     if isinstance(b, dict) and isinstance(b.get("text"), str))


def _message(message: Any, i: int) -> list[dict[str, Any]]:
    if not isinstance(message, dict):
        raise bad(f"messages.{i}: Input should be an object with role and content")
    role, content = message.get("role"), message.get("content")
    if role == "system":   # Claude Code puts some mid-conversation
        return [{"role": "system", "content": _text_of(content, f"messages.{i}.content")}]
    if isinstance(content, str):
        if role not in ("user", "assistant"):
            raise bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise bad(f"messages.{i}.content: Input should be a string or an array of blocks")
    if role == "user":
        return _user(content, i)
    if role == "assistant":
        return _assistant(content)
    raise bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")


def _user(blocks: list[Any], i: int) -> list[dict[str, Any]]:
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result":
            text, images = _tool_result(block)
            tool_messages.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")),
                                  "content": text})
            parts.extend(images)   # tool messages take text only: images follow as the user's
        else:
            part = _part(block)
            if part is not None:
                parts.append(part)
    out = tool_messages
    if parts:
        out.append({"role": "user", "content": _collapse(parts)})
    elif not tool_messages:
        out.append({"role": "user", "content": ""})
    return out


def _tool_result(block: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for inner in content:
            part = _part(inner) if isinstance(inner, dict) else None
            if part is None:
                continue
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                images.append(part)
    text = "\n".join(texts)
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return text, images


def _part(block: dict[str, Any]) -> dict[str, Any] | None:
    """One user content block as a chat content part (None: nothing a chat target can take)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text", ""))}
    source = block.get("source")
    if kind == "image" and isinstance(source, dict):
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
        else:
            url = str(source.get("url", ""))
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document" and isinstance(source, dict):
        return _document(block, source)
    if kind == "search_result":
        texts = [b.get("text", "") for b in block.get("content") or [] if isinstance(b, dict)]
        return {"type": "text", "text": "\n".join([str(block.get("title", "")), *texts]).strip()}
    return None   # thinking, server tool results, container uploads: no chat equivalent


def _document(block: dict[str, Any], source: dict[str, Any]) -> dict[str, Any] | None:
    kind = source.get("type")
    if kind == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    if kind == "content":
        inner = source.get("content")
        text = inner if isinstance(inner, str) else "\n".join(
            b.get("text", "") for b in inner or [] if isinstance(b, dict))
        return {"type": "text", "text": text}
    if kind == "base64":
        media = source.get("media_type", "application/pdf")
        return {"type": "file", "file": {"filename": str(block.get("title") or "document.pdf"),
                                         "file_data": f"data:{media};base64,{source.get('data', '')}"}}
    if kind == "url":
        return {"type": "text", "text": f"[document: {source.get('url', '')}]"}
    return None


def _collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text-only content as one string: every chat target takes that, not all take parts."""
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _assistant(blocks: list[Any]) -> list[dict[str, Any]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append({"id": str(block.get("id", "")), "type": "function",
                          "function": {"name": str(block.get("name", "")),
                                       "arguments": _json.dumps(block.get("input") or {}).decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls
                               else None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tools(body: Mapping[str, Any], chat: dict[str, Any]) -> None:
    tools = body.get("tools")
    if isinstance(tools, list):
        functions = []
        for tool in tools:
            # client tools carry an input_schema; Anthropic-defined ones (bash_20250124,
            # web_search_20250305, ...) run on Anthropic's side: nothing to map them to
            if isinstance(tool, dict) and isinstance(tool.get("name"), str) \
                    and isinstance(tool.get("input_schema"), dict):
                fn: dict[str, Any] = {"name": tool["name"], "parameters": tool["input_schema"]}
                if isinstance(tool.get("description"), str):
                    fn["description"] = tool["description"]
                functions.append({"type": "function", "function": fn})
        if functions:
            chat["tools"] = functions
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if "tools" in chat:   # a tool_choice without tools is refused by OpenAI-style targets
        mapped: Any = {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
        if kind == "tool" and isinstance(choice.get("name"), str):
            mapped = {"type": "function", "function": {"name": choice["name"]}}
        if mapped is not None:
            chat["tool_choice"] = mapped
    if choice.get("disable_parallel_tool_use") is True and "tools" in chat:
        chat["parallel_tool_calls"] = False


def _effort(thinking: Any) -> str | None:
    """`thinking: {type: enabled, budget_tokens}` as a reasoning effort. `adaptive` (the
    model decides) is the target's default, and sent as nothing: a target whose model
    cannot reason would refuse the parameter."""
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int):
        return "medium"
    for bound, effort in _EFFORT_BOUNDS:
        if budget < bound:
            return effort
    return "high"


def _thinking_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks = message.get("reasoning_blocks")
    if isinstance(blocks, list):
        return [b for b in blocks if isinstance(b, dict)]
    text = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(text, str) and text:
        return [{"type": "thinking", "thinking": text,
                 "signature": str(message.get("reasoning_signature") or "")}]
    return []
