"""The one small interface every client wire format implements, and what they share.

The attempt loop speaks one internal format: an OpenAI chat-completions request body in;
out, a chat completion (dict) or a stream of chat-completion chunk dicts. A `WireFormat`
turns its client's request into that internal request (plus a `Context` it keeps for the
way back), the internal answer into its own body, the internal chunks into its own SSE
events (`StreamEncoder`), and any gateway error into its own status and error body.

Extra keys the internal format carries for what chat completions cannot say (documented in
the README, "Client formats"): on a message or a delta `reasoning_content` (or `reasoning`),
`reasoning_signature` (Anthropic's thinking signature), `reasoning_redacted` (the data of a
redacted_thinking block), `reasoning_blocks` (a non-streaming message's exact Anthropic
thinking blocks); on a choice `stop_reason` (the stop sequence that ended it, as vLLM sends
it); in `usage` `cache_read_input_tokens` and `cache_creation_input_tokens`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import _json
from ..errors import InvalidRequestError, ProviderFallbackError

__all__ = ["Answered", "Context", "StreamEncoder", "WireFormat", "arguments_object", "bad",
           "chat_usage", "sse", "text_only", "usage_numbers"]


@dataclass(slots=True)
class Context:
    """What an adapter keeps from one client request for the way back."""

    protocol: str                       # "chat" | "messages" | "responses"
    model: str                          # the model the client asked for
    stream: bool
    body: Mapping[str, Any]             # the client's own request body, as it came
    headers: Mapping[str, str] = field(default_factory=dict)   # format headers, lower-case
    chat: dict[str, Any] | None = None  # the internal request it was translated into
    extra: dict[str, Any] = field(default_factory=dict)        # format-specific memory


@dataclass(frozen=True, slots=True)
class Answered:
    """Who answered, for the ids and `model` fields of the wire body."""

    provider: str
    model: str
    request_id: str


class StreamEncoder(Protocol):
    """Internal chunk dicts in, this format's SSE bytes out (one encoder per stream)."""

    def start(self) -> bytes:
        """Events sent right after the response headers (may be empty)."""

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events for one internal chunk (may be empty)."""

    def ping(self) -> bytes:
        """A keep-alive while the upstream is silent."""

    def end(self, usage: Mapping[str, Any] | None) -> bytes:
        """The closing events of a complete answer; `usage` is the stream's final usage."""

    def error(self, exc: ProviderFallbackError, facts: Any = None) -> bytes:
        """The in-band error that ends a stream broken after content (never a clean end);
        `facts` (config facts) fill the resolution steps."""


class WireFormat(Protocol):
    """One client wire format, as an adapter around the internal chat-completions format."""

    name: str

    def request(self, body: dict[str, Any], headers: Mapping[str, str]
                ) -> tuple[dict[str, Any], Context]:
        """The internal request and the context; bad input raises InvalidRequestError."""

    def answer(self, completion: Mapping[str, Any], ctx: Context, who: Answered) -> bytes:
        """The wire body for a non-streaming internal answer."""

    def encoder(self, ctx: Context, who: Answered) -> StreamEncoder:
        """A stream encoder for one streaming answer."""

    def error(self, exc: ProviderFallbackError, request_id: str | None = None,
              facts: Any = None) -> tuple[int, dict[str, Any]]:
        """HTTP status and error body, with the registry code, provider and resolution
        (its steps filled with `facts`, the gateway's config facts)."""


_PREFIXES: dict[str | None, bytes] = {None: b"data: "}


def sse(event: str | None, obj: Any) -> bytes:
    """One server-sent event: `event: NAME` (when named) and a JSON `data` line."""
    prefix = _PREFIXES.get(event)
    if prefix is None:   # a handful of names per format: computed once each
        prefix = _PREFIXES[event] = b"event: " + str(event).encode() + b"\ndata: "
    return prefix + _json.dumps(obj) + b"\n\n"


def bad(message: str) -> InvalidRequestError:
    """The caller's input is unusable: a 400 in the caller's own format."""
    return InvalidRequestError(message, code="invalid_request")


def arguments_object(raw: Any) -> dict[str, Any]:
    """Tool-call `arguments` (a JSON string) as the object Anthropic and Responses carry.

    Arguments that are not a JSON object are kept, not dropped: `{"_raw_arguments": ...}`.
    """
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = _json.loads(raw)
    except (_json.JSONDecodeError, TypeError):
        return {"_raw_arguments": raw}
    return value if isinstance(value, dict) else {"_raw_arguments": raw}


def chat_usage(chunk_or_body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The OpenAI `usage` of a completion or chunk (Groq streams put it under `x_groq`)."""
    if "usage" not in chunk_or_body and "x_groq" not in chunk_or_body:
        return None   # most chunks: two lookups
    usage = chunk_or_body.get("usage")
    if isinstance(usage, dict):
        return usage
    groq = chunk_or_body.get("x_groq")
    if isinstance(groq, dict) and isinstance(groq.get("usage"), dict):
        return groq["usage"]   # type: ignore[no-any-return]
    return None


def text_only(chunk: dict[str, Any]) -> str | None:
    """The text of a chunk that carries nothing but text for choice 0, else None."""
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1 or len(chunk) > 6 or "usage" in chunk:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") or choice.get("index", 0) != 0:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or len(delta) != 1:
        return None
    text = delta.get("content")
    return text if type(text) is str and text else None


def usage_numbers(usage: Mapping[str, Any] | None) -> tuple[int, int, int | None, int | None, int | None]:
    """(prompt, completion, cache read, cache creation, reasoning) tokens of an OpenAI usage.

    Cache reads come from `cache_read_input_tokens` (an Anthropic upstream) or
    `prompt_tokens_details.cached_tokens` (OpenAI); unknown values are None.
    """
    if not usage:
        return 0, 0, None, None, None
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    cache_read = usage.get("cache_read_input_tokens")
    if not isinstance(cache_read, int):
        details = usage.get("prompt_tokens_details")
        cache_read = details.get("cached_tokens") if isinstance(details, dict) else None
    creation = usage.get("cache_creation_input_tokens")
    out_details = usage.get("completion_tokens_details")
    reasoning = out_details.get("reasoning_tokens") if isinstance(out_details, dict) else None
    return (prompt, completion, cache_read if isinstance(cache_read, int) else None,
            creation if isinstance(creation, int) else None,
            reasoning if isinstance(reasoning, int) else None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
