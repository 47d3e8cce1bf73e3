"""A fast, conservative token estimate for a request body: no tokenizer, no network."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["DEFAULT_MAX_TOKENS", "IMAGE_TOKENS", "MESSAGE_OVERHEAD", "estimate_prompt_tokens",
           "estimate_text_tokens", "estimate_tokens"]

# Reserved for the answer when the request sets no max_tokens. Groq counts max_tokens
# against TPM at admission; without one we assume a typical reply, and `settle` corrects
# the ledger with the real usage afterwards.
DEFAULT_MAX_TOKENS = 1024
# Role, separators and name per message (OpenAI's own accounting uses 3-4).
MESSAGE_OVERHEAD = 4
# A non-text content part (image, audio): a flat, generous guess.
IMAGE_TOKENS = 1024
# Most BPE tokenizers average ~4 characters per token on English; 3 over-estimates.
_CHARS_PER_TOKEN = 3


def estimate_tokens(body: Mapping[str, Any], default_max_tokens: int = DEFAULT_MAX_TOKENS) -> int:
    """Prompt + completion tokens this request may use; errs on the high side.

    ceil(chars / 3) over message text, list-of-parts text, tool-call names and arguments,
    tool definitions and a legacy `prompt`/`input`; plus 4 per message; plus
    `max_completion_tokens` / `max_tokens` (or `default_max_tokens`) times `n`.
    """
    return estimate_prompt_tokens(body) + _completion_tokens(body, default_max_tokens)


def estimate_text_tokens(chars: int) -> int:
    """Tokens of `chars` characters of generated text (an answer the upstream did not count)."""
    return -(-chars // _CHARS_PER_TOKEN)


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """The prompt part of `estimate_tokens`: what the request sends, without the answer."""
    chars = 0
    extra = 3  # the reply is primed with a few tokens
    messages = body.get("messages")
    if type(messages) is list:
        extra += MESSAGE_OVERHEAD * len(messages)
        for message in messages:
            if type(message) is not dict:
                continue
            content = message.get("content")
            if type(content) is str:
                chars += len(content)
            elif type(content) is list:
                for part in content:
                    if type(part) is str:
                        chars += len(part)
                    elif type(part) is dict:
                        text = part.get("text")
                        if type(text) is str:
                            chars += len(text)
                        else:
                            extra += IMAGE_TOKENS
            if "tool_calls" in message:
                chars += _tool_call_chars(message["tool_calls"])
    for key in ("prompt", "input"):
        if key in body:
            chars += _text_chars(body[key])
    tools = body.get("tools")
    if tools:
        chars += len(orjson.dumps(tools, default=str))
    return -(-chars // _CHARS_PER_TOKEN) + extra


def _completion_tokens(body: Mapping[str, Any], default: int) -> int:
    limit = body.get("max_completion_tokens")
    if type(limit) is not int or limit <= 0:
        limit = body.get("max_tokens")
        if type(limit) is not int or limit <= 0:
            limit = default
    n = body.get("n")
    return limit * n if type(n) is int and n > 1 else limit


def _tool_call_chars(calls: Any) -> int:
    chars = 0
    if type(calls) is list:
        for call in calls:
            fn = call.get("function") if type(call) is dict else None
            if type(fn) is dict:
                chars += _text_chars(fn.get("name")) + _text_chars(fn.get("arguments"))
    return chars


def _text_chars(value: Any) -> int:
    if type(value) is str:
        return len(value)
    if type(value) is list:
        return sum(len(v) if type(v) is str else 8 for v in value)  # token-id lists: ~1 each
    if value is None:
        return 0
    return len(orjson.dumps(value, default=str))
