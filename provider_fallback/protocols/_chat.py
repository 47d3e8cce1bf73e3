"""OpenAI chat completions: the internal format itself, so the adapter is (almost) identity.

The gateway's chat endpoint relays the upstream's bytes untouched (`Completion.raw`,
`StreamingCompletion.raw_chunks()`); this adapter is the same behaviour behind the
shared interface, for code that handles every format alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _json
from ..errors import ProviderFallbackError
from ._base import Answered, Context, bad

__all__ = ["CHAT", "ChatFormat"]

_DONE = b"data: [DONE]\n\n"
_PING = b": ping\n\n"


class _ChatEncoder:
    __slots__ = ()

    def start(self) -> bytes:
        return b""

    def feed(self, chunk: dict[str, Any]) -> bytes:
        return b"data: " + _json.dumps(chunk) + b"\n\n"

    def ping(self) -> bytes:
        return _PING   # an SSE comment: every OpenAI client skips it

    def end(self, usage: Mapping[str, Any] | None) -> bytes:
        return _DONE

    def error(self, exc: ProviderFallbackError, facts: Any = None) -> bytes:
        # an in-band error event and no [DONE]: never a truncated success
        return b"data: " + _json.dumps(exc.to_openai_error(facts)) + b"\n\n"


class ChatFormat:
    """`POST /v1/chat/completions`: validated and passed through; every unknown field kept."""

    name = "chat"

    def request(self, body: dict[str, Any], headers: Mapping[str, str]
                ) -> tuple[dict[str, Any], Context]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad("'messages' is required and must be a non-empty array")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise bad("'stream' must be a boolean")
        model = body.get("model")
        return body, Context("chat", model if isinstance(model, str) else "",
                             bool(body.get("stream")), body, chat=body)

    def answer(self, completion: Mapping[str, Any], ctx: Context, who: Answered) -> bytes:
        return _json.dumps(completion)

    def encoder(self, ctx: Context, who: Answered) -> _ChatEncoder:
        return _ChatEncoder()

    def error(self, exc: ProviderFallbackError, request_id: str | None = None,
              facts: Any = None) -> tuple[int, dict[str, Any]]:
        return exc.http_status, exc.to_openai_error(facts)


CHAT = ChatFormat()
