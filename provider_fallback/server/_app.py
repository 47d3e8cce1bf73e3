"""The gateway as a plain ASGI application: a thin layer over Router.

No framework on the request path: the dispatch is a dict lookup and the body is parsed
once. Errors always leave as OpenAI-format JSON with a registry code, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .._redact import REDACTOR, Redactor
from .._secret import Secret
from ..config._step_facts import FactsBook
from ..errors import (
    InvalidRequestError,
    ProviderFallbackError,
    StreamInterruptedError,
)
from ..routing import Completion, Router, StreamingCompletion
from ..telemetry._logging import config_secrets
from ._admin import AdminAPI
from ._body import json_object
from ._http import (
    Receive,
    RelayWatch,
    Scope,
    Send,
    error_body,
    error_response,
    header,
    read_body,
    send_json,
)
from ._origin import OriginGuard
from ._protocol import install_accept_guard

__all__ = ["GatewayApp", "Handler"]

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("provider_fallback.server")

_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no")]
_DONE = b"data: [DONE]\n\n"
_DONE_EVENT = _DONE[len(b"data: "):]   # as the last of a batch's joined events
MAX_MODEL_NAME = 256


def _route_headers(result: Completion | StreamingCompletion) -> list[tuple[bytes, bytes]]:
    route = ",".join(f"{a.provider}/{a.model}={a.code}" for a in result.attempts)
    extra = [(b"x-provider-fallback-skipped",
              "; ".join(result.skipped).encode("utf-8", "replace")[:1024])] if result.skipped else []
    return [*extra, (b"x-provider-fallback-provider", result.provider.encode()),
            (b"x-provider-fallback-model", result.model.encode("utf-8", "replace")),
            (b"x-provider-fallback-attempts", str(len(result.attempts)).encode()),
            (b"x-provider-fallback-route", route.encode("utf-8", "replace")[:1024]),
            (b"x-request-id", result.request_id.encode())]


async def _disconnect(receive: Receive) -> None:
    """Returns once the client has gone away (only awaited while a request is queued)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class GatewayApp:
    """OpenAI-compatible endpoints over a Router."""

    def __init__(self, router: Router) -> None:
        self.router = router
        server = router.config.server
        self.master_key: Secret | None = server.master_key
        # masked in every error body; registered process-wide for the classifier and logs
        self._secrets = Redactor(config_secrets(router.config))
        REDACTOR.register(self, self._secrets.secrets)
        self._facts = FactsBook(router.config)                 # fills every error's fix steps
        self.max_body = server.max_body_size
        # paths whose clients speak another format: how to answer them an error
        self.error_formats: dict[str, Callable[[Send, ProviderFallbackError],
                                               Awaitable[None]]] = {}
        self._guarded = OriginGuard(self._http, host=server.host,
                                    master_key=server.master_key is not None,
                                    cors_origins=server.cors_origins, refuse=self.send_error)
        self.started = time.time()
        self.port: int | None = None          # set by whoever binds the socket
        self.base_url: str | None = None
        self._routes = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/chat/completions"): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("POST", "/embeddings"): self._embeddings,
            ("GET", "/v1/models"): self._models,
            ("GET", "/models"): self._models,
            ("GET", "/health"): self._health,
            ("GET", "/health/providers"): self._health_providers,
        }
        self._public = {"/health"}
        self._admin = AdminAPI(router)
        # extensions (metrics, dashboard, persistence): started/stopped with the gateway
        self.on_startup: list[Callable[[], Awaitable[None]]] = []
        self.on_shutdown: list[Callable[[], Awaitable[None]]] = []
        from ._wiring import install_extensions

        install_extensions(self)

    async def send_error(self, scope: Scope, send: Send, exc: ProviderFallbackError) -> None:
        """An error in the format of the client that asked (by path), masked and with its
        fix steps filled."""
        path = scope["path"]
        render = self.error_formats.get(path[:-1] if len(path) > 1 and path.endswith("/")
                                        else path)
        if render is not None:
            await render(send, exc)
            return
        await error_response(send, exc, secrets=self._secrets,
                             facts=self._facts.of(exc.provider, exc.model))

    def add_route(self, method: str, path: str, handler: Handler, *, public: bool = False) -> None:
        """Serve `handler(scope, receive, send)` at `path`; `public` skips the master key."""
        self._routes[(method, path)] = handler
        if public:
            self._public.add(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._guarded(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                install_accept_guard(asyncio.get_running_loop())
                try:
                    await self.router.start()
                    for hook in self.on_startup:
                        await hook()
                except Exception as exc:  # reported to the server, which refuses to start
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in reversed(self.on_shutdown):
                    try:
                        await hook()
                    except Exception:
                        log.exception("shutdown hook failed")
                await self.router.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        handler = self._routes.get((scope["method"], path))
        try:
            if handler is None and path.startswith("/admin/"):
                if self.master_key is not None:
                    self._authorize(scope)
                await self._admin(scope, receive, send, path)
                return
            if handler is None:
                if any(p == path for _, p in self._routes):
                    raise InvalidRequestError(f"method {scope['method']} not allowed on {path}",
                                              code="method_not_allowed", http_status=405)
                raise InvalidRequestError(f"no route {path}", code="not_found", http_status=404)
            if self.master_key is not None and path not in self._public:
                self._authorize(scope)
            await handler(scope, receive, send)
        except ProviderFallbackError as exc:
            await error_response(send, exc, secrets=self._secrets,
                                 facts=self._facts.of(exc.provider, exc.model))
        except ConnectionResetError:
            return   # the client left while its body was read (the front door logs it)
        except Exception as exc:  # never a traceback on the wire
            log.exception("internal error on %s", path)
            await error_response(send, ProviderFallbackError(
                f"internal gateway error ({type(exc).__name__}); see the gateway log",
                code="gateway_error", http_status=500))

    def _authorize(self, scope: Scope) -> None:
        """The master key, compared as sent: `Authorization: Bearer <key>` (only the scheme
        word is parsed) or `x-api-key: <key>`. Nothing is stripped: `key\t` is not `key`."""
        assert self.master_key is not None
        raw = header(scope, b"authorization") or b""
        token = raw[7:] if raw[:7].lower() == b"bearer " else (header(scope, b"x-api-key") or b"")
        if not self.master_key.matches(token):
            exc = InvalidRequestError("missing or wrong gateway key: send `Authorization: Bearer "
                                      "<master key>` (server.master_key)",
                                      code="unauthorized", http_status=401)
            exc.error_type = "authentication_error"
            raise exc

    async def _parse(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        body = json_object(await read_body(scope, receive, self.max_body))
        model = body.get("model")
        if isinstance(model, str) and len(model) > MAX_MODEL_NAME:
            # the name is echoed in errors and kept in the request log: bounded here
            raise InvalidRequestError(f"'model' is {len(model)} characters long; model names "
                                      f"have at most {MAX_MODEL_NAME}", code="invalid_request")
        return body

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._parse(scope, receive)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequestError("'messages' is required and must be a non-empty array",
                                      code="invalid_request")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise InvalidRequestError("'stream' must be a boolean", code="invalid_request")
        await self._relay(await self.router.request(
            "/chat/completions", body, disconnected=lambda: _disconnect(receive),
            defer_bookkeeping=True), scope, receive, send)

    async def _embeddings(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._parse(scope, receive)
        if "input" not in body:
            raise InvalidRequestError("'input' is required", code="invalid_request")
        body.pop("stream", None)
        await self._relay(await self.router.request(
            "/embeddings", body, disconnected=lambda: _disconnect(receive),
            defer_bookkeeping=True), scope, receive, send)

    async def _relay(self, result: Completion | StreamingCompletion, scope: Scope,
                     receive: Receive, send: Send) -> None:
        if isinstance(result, Completion):
            body = result.raw
            headers = [(b"content-type", b"application/json"), *_route_headers(result),
                       (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self._relay_stream(result, scope, receive, send)

    async def _relay_stream(self, result: StreamingCompletion, scope: Scope, receive: Receive,
                            send: Send) -> None:
        # the head leaves with the first batch (the front door holds it for the next write)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_SSE_HEADERS, *_route_headers(result)]})
        watch = RelayWatch(scope, receive)
        try:
            # one send per block that arrived, its events kept apart; the last one (the
            # stream is complete) carries the usage chunk and [DONE] with it
            tail = _DONE
            while (batch := await result.next_batch()) is not None:
                parts = [raw for raw, _ in batch]
                if result.completed:   # the last batch: [DONE] joined in as its last event
                    parts.append(_DONE_EVENT)
                    await send({"type": "http.response.body", "more_body": False,
                                "body": b"data: " + b"\n\ndata: ".join(parts)})
                    return   # (the stream's bookkeeping ends in `aclose`, below)
                await send({"type": "http.response.body", "more_body": True,
                            "body": b"data: " + b"\n\ndata: ".join(parts) + b"\n\n"})
        except StreamInterruptedError as exc:
            # Never a truncated success: an in-band error event and no [DONE].
            tail = (b"data: " + error_body(exc, self._secrets, self._facts.of(exc.provider,
                                                                              exc.model))
                    + b"\n\n")
        except asyncio.CancelledError:
            await result.aclose()
            if watch.gone:
                return  # client went away; nothing left to tell it
            raise
        finally:
            watch.stop()
            await result.aclose()   # however the relay ended (a no-op once it closed itself)
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        created = int(self.started)
        data = [{"id": alias, "object": "model", "created": created, "owned_by": "provider-fallback",
                 "targets": [t.key for t in self.router.config.chains[alias].targets]}
                for alias in self.router.config.aliases]
        await send_json(send, 200, {"object": "list", "data": data})

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "healthy"})

    async def _health_providers(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, self.router.status())


