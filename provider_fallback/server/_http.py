"""Tiny ASGI helpers: read a bounded body, send JSON, send OpenAI-format errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .. import _json
from ..errors import Facts, InvalidRequestError, ProviderFallbackError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

__all__ = ["Headers", "Message", "Receive", "Scope", "Send", "error_body", "error_response", "header",
           "mask_secrets", "read_body", "send_bytes", "send_json"]

JSON_CT = (b"content-type", b"application/json")


def header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope["headers"]:
        if k == name:
            return v
    return None


class BodyTooLarge(InvalidRequestError):
    code = "request_too_large"
    http_status = 413


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing (413) anything over `limit` bytes."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body is {int(declared)} bytes; the limit is {limit} "
                           "(server.max_body_size)")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client disconnected")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes "
                                   "(server.max_body_size)")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_bytes(send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]]) -> None:
    hdrs = [JSON_CT, *headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, obj: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send_bytes(send, status, _json.dumps(obj), headers)


def mask_secrets(body: bytes, secrets: Iterable[str] = ()) -> bytes:
    """`body` (JSON) with every configured secret value replaced by `[secret]` (an upstream
    may echo a key back in a message shape no pattern recognises)."""
    for s in secrets:
        raw = _json.dumps(s)[1:-1]          # as it appears inside a JSON string
        if raw in body:
            body = body.replace(raw, b"[secret]")
    return body


def error_body(exc: ProviderFallbackError, secrets: Iterable[str] = (),
               facts: Facts | None = None) -> bytes:
    """The OpenAI-format error JSON, with any configured secret value masked. The resolution
    steps are filled with `facts` (the provider's URL, its key variable, the config file)
    in the gateway machine's shell: the steps are about what to do there."""
    return mask_secrets(_json.dumps(exc.to_openai_error(facts)), secrets)


async def error_response(send: Send, exc: ProviderFallbackError,
                         headers: Iterable[tuple[bytes, bytes]] = (),
                         secrets: Iterable[str] = (), facts: Facts | None = None) -> None:
    """An OpenAI-format error body with the registry code, provider, model and fix."""
    extra = list(headers)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        extra.append((b"retry-after", str(max(1, int(retry_after + 0.999))).encode()))
    await send_bytes(send, exc.http_status, error_body(exc, secrets, facts), extra)
