"""Tiny ASGI helpers: read a bounded body, send JSON, send OpenAI-format errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .. import _json
from .._loop import current_task
from .._redact import REDACTOR, Redactor
from ..errors import Facts, InvalidRequestError, ProviderFallbackError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

__all__ = ["DISCONNECT_HOOK", "Headers", "Message", "Receive", "RelayWatch", "Scope", "Send", "error_body", "error_response", "header",
           "mask_secrets", "on_disconnect", "read_body", "send_bytes", "send_json"]

JSON_CT = (b"content-type", b"application/json")


# scope key set by the front door (server/_protocol.py): `scope[DISCONNECT_HOOK](callback)`
# calls `callback()` once if the connection is lost before the response completes, and
# returns a function that cancels the watch
DISCONNECT_HOOK = "provider_fallback.on_disconnect"


def on_disconnect(scope: Scope, receive: Receive,
                  callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback()` once if the client goes away before the response is complete;
    returns the function that stops watching (call it when the response is done).

    Under the gateway's front door this is a callback from the connection itself; under
    any other ASGI server, a task that waits for `http.disconnect`.
    """
    hook = scope.get(DISCONNECT_HOOK)
    if hook is not None:
        return hook(callback)  # type: ignore[no-any-return]

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        callback()

    return asyncio.create_task(watch()).cancel


class RelayWatch:
    """`RelayWatch(scope, receive)`: cancels the current task (a relay) if the client goes
    away; `gone` says whether that is why it was cancelled; `stop()` when it is done."""

    __slots__ = ("_task", "gone", "stop")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._task = current_task()
        self.gone = False
        self.stop = on_disconnect(scope, receive, self._left)

    def _left(self) -> None:
        self.gone = True
        if self._task is not None:
            self._task.cancel()


def header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope["headers"]:
        if k == name:
            return v
    return None


class BodyTooLarge(InvalidRequestError):
    """413, answered with `Connection: close`: the rest of the body is drained by the
    front door's lingering close, never read into memory."""

    code = "request_too_large"
    http_status = 413
    close_connection = True


async def read_body(scope: Scope, receive: Receive, limit: int,
                    setting: str = "server.max_body_size") -> bytes:
    """The whole request body, refusing (413) anything over `limit` bytes; `setting` names
    where the limit comes from in the message."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body is {int(declared)} bytes; the limit is {limit} "
                           f"({setting})")
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
                                   f"({setting})")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_bytes(send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]]) -> None:
    hdrs = [JSON_CT, *headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, obj: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send_bytes(send, status, _json.dumps(obj), headers)


def error_body(exc: ProviderFallbackError, secrets: Iterable[str] | Redactor = (),
               facts: Facts | None = None) -> bytes:
    """The OpenAI-format error JSON, every string in it masked (the configured secrets and
    every 12+ character piece of one: an upstream may echo a key back in a message shape
    no pattern recognises) before it is encoded. The resolution steps are filled with
    `facts` (the provider's URL, its key variable, the config file) in the gateway
    machine's shell: the steps are about what to do there."""
    redactor = secrets if isinstance(secrets, Redactor) else Redactor(secrets)
    doc = REDACTOR.current.mask_value(redactor.mask_value(exc.to_openai_error(facts)))
    return _json.dumps(doc)


def mask_secrets(body: bytes, secrets: Iterable[str] | Redactor = ()) -> bytes:
    """`body` (an encoded error: JSON, or a format's SSE error event) with every configured
    secret, and every 12+ character piece of one, masked (an upstream may echo a key back
    in a message shape no pattern recognises)."""
    redactor = secrets if isinstance(secrets, Redactor) else Redactor(secrets)
    text = body.decode("utf-8", "replace")
    masked = REDACTOR.current.mask(redactor.mask(text))
    return body if masked == text else masked.encode("utf-8")


async def error_response(send: Send, exc: ProviderFallbackError,
                         headers: Iterable[tuple[bytes, bytes]] = (),
                         secrets: Iterable[str] | Redactor = (),
                         facts: Facts | None = None) -> None:
    """An OpenAI-format error body with the registry code, provider, model and fix."""
    extra = list(headers)
    if getattr(exc, "close_connection", False):
        extra.append((b"connection", b"close"))
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        extra.append((b"retry-after", str(max(1, int(retry_after + 0.999))).encode()))
    await send_bytes(send, exc.http_status, error_body(exc, secrets, facts), extra)
