"""Who may call the gateway from where: Host, Origin, Content-Type and CORS, as pure ASGI
middleware in front of every route.

A web page can make the browser send requests to 127.0.0.1 (cross-site), and with DNS
rebinding even read the answers (its own name then points at 127.0.0.1). Defences:

- without a master key, only loopback names (`localhost`, `*.localhost`, 127.0.0.0/8,
  `[::1]`) and the configured `server.host` are served in `Host` (a rebound name is not);
- a request that changes something (any method but GET/HEAD/OPTIONS) with an `Origin`
  that is not the gateway's own is refused, unless `server.cors_origins` lists it;
- a request body must be declared `application/json`: the content types a page may send
  without a CORS preflight (text/plain, forms) are refused;
- CORS is off unless `server.cors_origins` lists origins; for those, preflights are
  answered and responses carry `Access-Control-Allow-Origin`.

Clients outside a browser (SDKs, curl, agents) send no Origin and are not affected.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..config._bind import is_loopback
from ..errors import InvalidRequestError, ProviderFallbackError
from ._http import Message, Receive, Scope, Send, error_response

__all__ = ["OriginGuard"]

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_PREFLIGHT_MAX_AGE = b"600"
_EXPOSE = (b"x-provider-fallback-provider, x-provider-fallback-model, "
           b"x-provider-fallback-attempts, x-provider-fallback-route, "
           b"x-provider-fallback-skipped, x-request-id, retry-after")
_ALLOW_HEADERS = b"authorization, content-type, x-api-key"
_WANTED = frozenset({b"host", b"origin", b"content-type", b"content-length",
                     b"transfer-encoding"})


@functools.lru_cache(maxsize=256)   # bounded: a flood of made-up names only evicts
def _host_name(host: bytes) -> str:
    """The name part of a Host header value: 'localhost:4100' -> 'localhost'."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1:text.find("]")] if "]" in text else text
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


@functools.lru_cache(maxsize=256)
def _loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True   # RFC 6761: browsers resolve these to loopback without DNS
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return is_loopback(name)


class OriginGuard:
    """`OriginGuard(app, host=..., master_key=..., cors_origins=...)`."""

    def __init__(self, app: Any, *, host: str, master_key: bool,
                 cors_origins: Iterable[str] = (),
                 refuse: Callable[[Scope, Send, ProviderFallbackError], Awaitable[None]]
                 | None = None) -> None:
        self.app = app
        # answers a refusal in the asking client's own format (Anthropic's on /v1/messages)
        self.refuse = refuse or (lambda scope, send, exc: error_response(send, exc))
        self.check_host = not master_key
        name = host.strip().strip("[]").lower().rstrip(".")
        self.hosts = frozenset({name} - {"0.0.0.0", "::", ""})
        self.cors = frozenset(cors_origins)
        self.cors_any = "*" in self.cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _WANTED:
                found[name] = value
        host = found.get(b"host")
        origin = found.get(b"origin")
        content_type = found.get(b"content-type")
        length = found.get(b"content-length")
        has_body = b"transfer-encoding" in found or (
            length is not None and length.strip() not in (b"0", b""))
        if self.check_host and host is not None:
            name = _host_name(host)
            if name not in self.hosts and not _loopback_name(name):
                return await self.refuse(scope, send, _refusal(
                    f"Host '{host.decode('latin-1')[:100]}' is not this gateway's: without "
                    "server.master_key only loopback names and server.host are served",
                    "forbidden_host"))
        method = scope["method"]
        allowed = None
        if origin is not None:
            allowed = self._cors_origin(origin)
            if allowed is None and method not in _SAFE and not _same_origin(origin, host):
                return await self.refuse(scope, send, _refusal(
                    f"requests from the web page at {origin.decode('latin-1')[:100]} are not "
                    "allowed (server.cors_origins)", "forbidden_origin"))
            if method == "OPTIONS" and allowed is not None and _header(
                    scope, b"access-control-request-method") is not None:
                return await _preflight(scope, send, allowed)
        if has_body and method not in _SAFE and not _is_json(content_type):
            shown = content_type.decode("latin-1")[:100] if content_type else "none"
            return await self.refuse(scope, send, _refusal(
                f"request bodies must be JSON (Content-Type: application/json), got {shown}",
                "unsupported_media_type", 415))
        if allowed is None:
            return await self.app(scope, receive, send)

        async def send_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"access-control-allow-origin", allowed),
                                      (b"access-control-expose-headers", _EXPOSE),
                                      (b"vary", b"Origin")]
            await send(message)

        await self.app(scope, receive, send_cors)

    def _cors_origin(self, origin: bytes) -> bytes | None:
        """The Access-Control-Allow-Origin value for this Origin, or None (not allowed)."""
        text = origin.decode("latin-1").strip().rstrip("/").lower()
        if text in self.cors:
            return origin
        return b"*" if self.cors_any and text != "null" else None


def _same_origin(origin: bytes, host: bytes | None) -> bool:
    """The page was served by this gateway (the dashboard): Origin names the Host."""
    if host is None:
        return False
    text = origin.decode("latin-1").strip().lower()
    for scheme in ("http://", "https://"):
        if text.startswith(scheme):
            return text[len(scheme):].rstrip("/") == host.decode("latin-1").strip().lower()
    return False


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or (kind.startswith(b"application/")
                                           and kind.endswith(b"+json"))


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope["headers"]:
        if k == name:
            return v
    return None


def _refusal(message: str, code: str, status: int = 403) -> InvalidRequestError:
    exc = InvalidRequestError(message, code=code, http_status=status)
    if status == 403:
        exc.error_type = "permission_error"
    return exc


async def _preflight(scope: Scope, send: Send, allowed: bytes) -> None:
    requested = _header(scope, b"access-control-request-headers")
    await send({"type": "http.response.start", "status": 204, "headers": [
        (b"access-control-allow-origin", allowed),
        (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
        (b"access-control-allow-headers", requested if requested else _ALLOW_HEADERS),
        (b"access-control-max-age", _PREFLIGHT_MAX_AGE),
        (b"vary", b"Origin, Access-Control-Request-Headers")]})
    await send({"type": "http.response.body", "body": b""})
