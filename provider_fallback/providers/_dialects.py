"""Upstream dialects: how one attempt speaks to a provider of each `api`.

The attempt loop holds an internal request (an OpenAI chat-completions body, `model`
already the target's) and wants back a chat completion or chat-completion chunk dicts.
A dialect says, for one provider API:

- `path(endpoint)`: the upstream path for an internal endpoint (`/chat/completions`);
- `headers(provider, stream, client_headers)`: the request headers (auth, version, the
  client's forwarded `anthropic-beta`);
- `encode(chat_body, origin)`: the request bytes; `origin` is the client's own request
  when it spoke this provider's format, so it goes out as it came (model replaced);
- `answer(raw)`: a 2xx body as a chat completion dict (an error body stays an error
  dict: `{"error": ...}` / `{"type": "error", ...}`, for the loop's classifier);
- `stream_decoder()`: an object whose `feed(data)` turns one SSE `data:` payload into
  chat chunk dicts (its `done` turns true at the provider's end-of-stream event).

`api: openai` is the identity; `api: anthropic` lives in `_anthropic.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import _json
from .._secret import Secret
from ..config import ProviderSpec

__all__ = ["APIS", "OPENAI", "Dialect", "OpenAIDialect", "Origin", "StreamDecoder", "dialect_for"]

APIS = ("openai", "anthropic")


@dataclass(frozen=True, slots=True)
class Origin:
    """The client's own request, for an upstream that speaks the client's format.

    `chat_messages` is the internal message list it was translated into: when the loop
    sends something else (a continuation appended to it, say), the dialect translates the
    internal request instead of replaying the original.
    """

    protocol: str                               # the client's format: "messages", ...
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)   # lower-case names
    chat_messages: Any = None


class StreamDecoder(Protocol):
    done: bool

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Chat chunk dicts for one SSE `data:` payload (possibly none)."""


class Dialect(Protocol):
    name: str

    def path(self, endpoint: str) -> str: ...

    def auth_headers(self, provider: ProviderSpec) -> dict[str, str]:
        """The key (and version) headers alone: probes and doctor use them too."""

    def headers(self, provider: ProviderSpec, stream: bool,
                client_headers: Mapping[str, str] | None = None) -> dict[str, str]: ...

    def encode(self, chat_body: Mapping[str, Any], origin: Origin | None = None) -> bytes: ...

    def answer(self, raw: bytes) -> dict[str, Any]: ...

    def stream_decoder(self) -> StreamDecoder: ...


def static_headers(provider: ProviderSpec) -> dict[str, str]:
    """The provider's configured extra headers, secrets revealed (HTTP layer only)."""
    return {name: value.reveal() if isinstance(value, Secret) else value
            for name, value in provider.headers.items()}


class _Identity:
    """OpenAI chunks are already chat chunks; `[DONE]` ends the stream."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if data == b"[DONE]":
            self.done = True
            return []
        chunk = _json.loads(data)
        return [chunk] if isinstance(chunk, dict) else []


class OpenAIDialect:
    """Any OpenAI-compatible endpoint: the internal format is its own."""

    name = "openai"

    def path(self, endpoint: str) -> str:
        return endpoint

    def auth_headers(self, provider: ProviderSpec) -> dict[str, str]:
        key = provider.api_key
        return {} if key is None else {"Authorization": f"Bearer {key.reveal()}"}

    def headers(self, provider: ProviderSpec, stream: bool,
                client_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        # depends on (provider, stream) only: a caller may compute it once per provider
        return {"Content-Type": "application/json",
                "Accept": "text/event-stream" if stream else "application/json",
                **static_headers(provider), **self.auth_headers(provider)}

    def encode(self, chat_body: Mapping[str, Any], origin: Origin | None = None) -> bytes:
        return _json.dumps_kept(chat_body)   # the upstream body: kept through the attempt

    def answer(self, raw: bytes) -> dict[str, Any]:
        parsed = _json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"error": {"message": "answer is not an object"}}

    def stream_decoder(self) -> _Identity:
        return _Identity()


OPENAI = OpenAIDialect()


def dialect_for(provider: ProviderSpec) -> Dialect:
    """The dialect of `provider.api` (`openai` unless configured otherwise)."""
    if getattr(provider, "api", "openai") == "anthropic":
        from ._anthropic import ANTHROPIC

        return ANTHROPIC
    return OPENAI
