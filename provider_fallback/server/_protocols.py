"""Gateway endpoints for the other client formats: Anthropic Messages (`/v1/messages`,
`/v1/messages/count_tokens`), OpenAI Responses (`/v1/responses`), `GET /v1/models` in the
asking client's shape, and `HEAD /` (Claude Code's first request).

Each endpoint is its adapter (`protocols/`) around `router.request("/chat/completions")`,
exactly as the chat endpoint calls it: one attempt loop, so chains, fall-over, circuits,
limits, budget, usage, the request log, events and metrics are the same for every format.
Errors, including a wrong gateway key, are answered in the client's own format.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import _json
from .._loop import running_loop
from ..errors import InvalidRequestError, ProviderFallbackError, StreamInterruptedError
from ..errors._wire import WireError
from ..limits import estimate_tokens
from ..protocols import CHAT, MESSAGES, RESPONSES, Answered, Context, WireFormat
from ..providers import Origin, proxy_for
from ..providers._anthropic import ANTHROPIC
from ..providers._fetch import Fetcher
from ..routing import Completion, StreamingCompletion
from ..telemetry._records import CLIENT_PROTOCOL

# the chat endpoint's own pieces, so every format carries the same headers
from ._app import _SSE_HEADERS, _disconnect, _route_headers
from ._http import (
    Receive,
    RelayWatch,
    Scope,
    Send,
    header,
    mask_secrets,
    send_bytes,
    send_json,
)

if TYPE_CHECKING:
    from ..config import Target
    from ._app import GatewayApp

__all__ = ["ProtocolEndpoints", "install_protocols"]

log = logging.getLogger("provider_fallback.server")

_FORMAT_HEADERS = (b"anthropic-version", b"anthropic-beta")
_COUNT_TIMEOUT_S = 10.0


def install_protocols(app: GatewayApp) -> ProtocolEndpoints:
    endpoints = ProtocolEndpoints(app)
    for prefix in ("/v1", ""):
        # each authorizes itself, so a wrong key is answered in the client's own format
        app.add_route("POST", f"{prefix}/messages", endpoints.messages, public=True)
        app.add_route("POST", f"{prefix}/messages/count_tokens", endpoints.count_tokens,
                      public=True)
        app.add_route("POST", f"{prefix}/responses", endpoints.responses, public=True)
        app.add_route("GET", f"{prefix}/models", endpoints.models, public=True)
        for path, fmt in ((f"{prefix}/messages", MESSAGES),
                          (f"{prefix}/messages/count_tokens", MESSAGES),
                          (f"{prefix}/responses", RESPONSES)):
            app.error_formats[path] = functools.partial(endpoints._error, fmt)
    app.add_route("HEAD", "/", endpoints.root, public=True)
    app.on_shutdown.append(endpoints.aclose)
    app.protocols = endpoints  # type: ignore[attr-defined]
    return endpoints


def _format_headers(scope: Scope) -> dict[str, str]:
    return {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _FORMAT_HEADERS}


class ProtocolEndpoints:
    """The Messages and Responses endpoints of one GatewayApp."""

    def __init__(self, app: GatewayApp) -> None:
        self.app = app
        self.router = app.router
        self.ping_interval = 10.0   # seconds of upstream silence before a keep-alive event
        self._session: Fetcher | None = None   # count_tokens on native targets

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.aclose()
            self._session = None

    # -- routes ---------------------------------------------------------------------------
    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(MESSAGES, scope, receive, send)

    async def responses(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(RESPONSES, scope, receive, send)

    async def root(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        anthropic = header(scope, b"anthropic-version") is not None
        fmt: WireFormat = MESSAGES if anthropic else CHAT
        try:
            self._authorize(scope)
        except ProviderFallbackError as exc:
            await self._error(fmt, send, exc)
            return
        if not anthropic:
            await self.app._models(scope, receive, send)
            return
        created = datetime.fromtimestamp(self.app.started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        aliases = list(self.router.config.aliases)
        data = [{"type": "model", "id": a, "display_name": a, "created_at": created}
                for a in aliases]
        await send_json(send, 200, {"data": data, "has_more": False,
                                    "first_id": aliases[0] if aliases else None,
                                    "last_id": aliases[-1] if aliases else None})

    async def count_tokens(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._authorize(scope)
            body = await self.app._parse(scope, receive)
            headers = _format_headers(scope)
            chat, _ = MESSAGES.request(body, headers)
            chain = self.router.config.resolve(chat["model"])
            if chain is None:
                raise InvalidRequestError(
                    f"model '{chat['model']}' is not configured; known models: "
                    f"{', '.join(self.router.config.aliases)}", code="model_not_found",
                    http_status=404)
            first = chain.targets[0]
            if first.provider.api == "anthropic":
                counted = await self._native_count(first, body, headers)
                if counted is not None:
                    await send_bytes(send, 200, counted, [
                        (b"x-provider-fallback-provider", first.provider.name.encode()),
                        (b"x-provider-fallback-model", first.model.encode("utf-8", "replace"))])
                    return
            prompt = {"messages": chat["messages"], "tools": chat.get("tools")}
            tokens = estimate_tokens(prompt, default_max_tokens=0)
            await send_json(send, 200, {"input_tokens": tokens, "estimated": True},
                            [(b"x-provider-fallback-estimated", b"true")])
        except ProviderFallbackError as exc:
            await self._error(MESSAGES, send, exc)
        except ConnectionResetError:
            return

    # -- the one path every format takes ------------------------------------------------------
    async def _serve(self, fmt: WireFormat, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._authorize(scope)
            body = await self.app._parse(scope, receive)
            chat, ctx = fmt.request(body, _format_headers(scope))
            token = CLIENT_PROTOCOL.set(fmt.name)   # the request record's protocol label
            try:
                # the client's own request rides along: a target speaking its format gets it
                result = await self.router.request(
                    "/chat/completions", chat, disconnected=lambda: _disconnect(receive),
                    defer_bookkeeping=True,
                    origin=Origin(ctx.protocol, ctx.body, ctx.headers, chat.get("messages")))
            finally:
                CLIENT_PROTOCOL.reset(token)
            who = Answered(result.provider, result.model, result.request_id)
            if isinstance(result, Completion):
                await send_bytes(send, 200, fmt.answer(result.body, ctx, who),
                                 _route_headers(result))
            else:
                await self._relay_stream(fmt, ctx, who, result, scope, receive, send)
        except ProviderFallbackError as exc:
            await self._error(fmt, send, exc)
        except ConnectionResetError:
            return
        except Exception as exc:  # never a traceback on the wire
            log.exception("internal error on %s", scope.get("path"))
            await self._error(fmt, send, ProviderFallbackError(
                f"internal gateway error ({type(exc).__name__}); see the gateway log",
                code="gateway_error", http_status=500))

    def _facts(self, exc: ProviderFallbackError) -> Any:
        """The config facts that fill an error's fix steps, as the chat endpoint uses them."""
        book = getattr(self.app, "_facts", None)
        return None if book is None else book.of(exc.provider, exc.model)

    def _authorize(self, scope: Scope) -> None:
        if self.app.master_key is not None:
            self.app._authorize(scope)

    async def _error(self, fmt: WireFormat, send: Send, exc: ProviderFallbackError) -> None:
        status, body = fmt.error(exc, facts=self._facts(exc))
        extra = []
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            extra.append((b"retry-after", str(max(1, int(retry_after + 0.999))).encode()))
        await send_bytes(send, status, mask_secrets(_json.dumps(body), self.app._secrets), extra)

    async def _relay_stream(self, fmt: WireFormat, ctx: Context, who: Answered,
                            result: StreamingCompletion, scope: Scope, receive: Receive,
                            send: Send) -> None:
        encoder = fmt.encoder(ctx, who)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_SSE_HEADERS, *_route_headers(result)]})
        loop = running_loop()
        last_sent = loop.time()
        interval = self.ping_interval
        pinging: asyncio.Task[None] | None = None

        async def body(data: bytes) -> None:
            nonlocal last_sent
            last_sent = loop.time()
            await send({"type": "http.response.body", "body": data, "more_body": True})

        def keep_alive() -> None:
            # the upstream may think for a long time between chunks: tell the client we're
            # here. A timer, not a task per stream: most streams end before it ever fires.
            nonlocal timer, pinging
            idle = loop.time() - last_sent
            if idle >= interval and (pinging is None or pinging.done()):
                pinging = asyncio.ensure_future(body(encoder.ping()))
                idle = 0.0
            timer = loop.call_later(max(0.0, interval - idle), keep_alive)

        watch = RelayWatch(scope, receive)
        timer = loop.call_later(interval, keep_alive)
        head = encoder.start()   # sent with the first chunk's events: one write, not two
        try:
            while (batch := await result.next_batch()) is not None:   # one write a block
                data = b"".join([encoder.feed(_json.loads(raw) if chunk is None else chunk)
                                 for raw, chunk in batch])
                if data:
                    if head:
                        data, head = head + data, b""
                    await body(data)
            tail = head + encoder.end(result.usage)
        except StreamInterruptedError as exc:
            # never a truncated success: the format's in-band error, no clean end
            tail = head + mask_secrets(encoder.error(exc, self._facts(exc)), self.app._secrets)
        except asyncio.CancelledError:
            await result.aclose()
            if watch.gone:
                return  # client went away; nothing left to tell it
            raise
        except Exception as exc:  # an answer we could not encode must not end as a success
            log.exception("could not relay a %s stream", fmt.name)
            await result.aclose()
            tail = head + encoder.error(ProviderFallbackError(
                f"internal gateway error ({type(exc).__name__}) while relaying the stream",
                code="gateway_error"))
        finally:
            watch.stop()
            timer.cancel()
            await result.aclose()   # however the relay ended (a no-op once it closed itself)
            if pinging is not None and not pinging.done():
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await pinging
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    async def _native_count(self, target: Target, body: dict[str, Any],
                            headers: Mapping[str, str]) -> bytes | None:
        """The Anthropic-native target's own count, or None (then the estimate answers)."""
        provider = target.provider
        if self._session is None:
            self._session = Fetcher()
        try:
            async with asyncio.timeout(min(_COUNT_TIMEOUT_S, target.policy.timeout)):
                async with await self._session.request(
                        "POST", provider.base_url + "/messages/count_tokens",
                        data=_json.dumps_kept({**body, "model": target.model}),
                        headers=ANTHROPIC.headers(provider, False, headers),
                        proxy=proxy_for(provider.base_url)) as resp:
                    raw = await resp.read()
                    if resp.status == 200 and b"input_tokens" in raw:
                        return raw
                    log.info("count_tokens on %s answered %s; estimating instead",
                             provider.name, resp.status)
        except (WireError, OSError, TimeoutError, ValueError) as exc:
            log.info("count_tokens on %s failed (%s); estimating instead", provider.name,
                     type(exc).__name__)
        return None
