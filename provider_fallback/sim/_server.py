"""SimProvider: an OpenAI-compatible server that misbehaves on purpose, on loopback."""

from __future__ import annotations

import asyncio
import math
import random
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import _json
from ._bodies import error_body, groq_rate_message, openrouter_rate_body
from ._buckets import Bucket, fmt_reset
from ._faults import Fault
from ._replies import Responder, SimReply, ToolCall, default_reply
from ._script import continuation_of, prefill_of
from ._stream import StreamPlan, stall_body, write_stream

__all__ = ["SimProvider", "SimRequest"]

_JSON = "application/json"


@dataclass(slots=True)
class SimRequest:
    time: float
    path: str
    model: str | None
    stream: bool
    status: int
    fault: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None   # kept with keep_bodies (agent tests record them)
    key: int | None = None   # which of `api_keys` (1-based, in the order given) it carried


class SimProvider:
    """A simulated provider. `await start()`, point a client at `.url`, switch faults live."""

    def __init__(self, name: str = "sim", *, host: str = "127.0.0.1", port: int = 0,
                 models: Sequence[str] = ("sim-model",), flavor: str = "openai",
                 api_key: str | None = None, rpm: int | None = None, rpd: int | None = None,
                 tpm: int | None = None, latency: float = 0.0, chunk_count: int = 5,
                 chunk_delay: float = 0.0, reply: str = "Hello from {name}/{model}.",
                 clock: Callable[[], float] = time.monotonic, keep_bodies: bool = False,
                 models_latency: float = 0.0, prefill: bool | str = True, stream_usage: bool = True,
                 reject_stream_options: bool = False, tool_args: str = "{}",
                 tool_text: str = "", tool_chunks: int = 3, reasoning: str | None = None,
                 seed: int = 0, redirect_to: str | None = None,
                 redirect_status: int = 308, responder: Responder | None = None,
                 api_keys: Sequence[str] = (), ssl_context: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.ssl_context = ssl_context   # serve HTTPS with this (server-side) context
        self.host = host
        self.port = port
        self.models = list(models)
        self.flavor = flavor
        self.api_key = api_key
        # several accepted keys (a provider account with several projects): each has its
        # own rate buckets; a key added to `revoked` answers 401 from then on
        self.api_keys = set(api_keys)
        self._key_numbers = {key: i + 1 for i, key in enumerate(api_keys)}
        self.revoked: set[str] = set()
        self.latency = latency
        self.models_latency = models_latency   # GET /models answers this late (slow-provider doctor test)
        self.chunk_count = max(0, chunk_count)   # 0: one chunk per word
        self.chunk_delay = chunk_delay
        self.reply = reply
        self.clock = clock
        self.keep_bodies = keep_bodies
        # what the sim's "model" can do: continue an assistant prefill (False: a 400;
        # "ignore": it answers from the start, as if the prefill were history), send
        # usage when asked (`stream_options.include_usage`), or reject stream_options
        self.prefill = prefill
        self.stream_usage = stream_usage
        self.reject_stream_options = reject_stream_options
        self.tool_args = tool_args          # a tool call's arguments, streamed in pieces
        self.tool_text = tool_text          # text sent before a tool call
        self.tool_chunks = tool_chunks
        self.reasoning = reasoning          # reasoning_content streamed before the answer
        self.rng = random.Random(seed)
        self.responder = responder   # a test's script: body -> SimReply (None: the default)
        self.log: deque[SimRequest] = deque(maxlen=10_000)
        self._limits = {"rpm": rpm, "rpd": rpd, "tpm": tpm}
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        self._standing: dict[str, Fault] = {}
        self._queued: dict[str, deque[Fault]] = {}
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._cache: dict[str, bytes] = {}
        # every request redirected there (a provider that moved host); paths under /moved/
        # always redirect to the same path without it, on this host
        self.redirect_to = redirect_to
        self.redirect_status = redirect_status
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._redirects])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/health/liveliness", self._health)
        app.router.add_get("/health/readiness", self._health)
        from ._anthropic import add_messages_routes

        add_messages_routes(self, app)   # POST /v1/messages (+ count_tokens), Anthropic's format
        self._app = app

    # -- lifecycle ----------------------------------------------------------------
    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}/v1"

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False,
                                     shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        await self.reopen_listener()

    async def reopen_listener(self) -> None:
        """Listen (again) on the same port."""
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True,
                                 ssl_context=self.ssl_context)
        await self._site.start()
        if self.port == 0:
            server = self._site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close_listener(self) -> None:
        """Stop listening: new connections are refused (ECONNREFUSED) until reopened."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> SimProvider:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- faults and log -----------------------------------------------------------
    def set_fault(self, fault: Fault | None, model: str = "*") -> None:
        """The standing fault for `model` ("*" = every model); None clears it."""
        if fault is None:
            self._standing.pop(model, None)
        else:
            self._standing[model] = fault

    def push_fault(self, fault: Fault, model: str = "*") -> None:
        """Queue a one-shot fault, used before any standing fault."""
        self._queued.setdefault(model, deque()).append(fault)

    def clear_faults(self) -> None:
        self._standing.clear()
        self._queued.clear()

    def count(self, model: str | None = None, path: str | None = None) -> int:
        return sum(1 for r in list(self.log)
                   if (model is None or r.model == model) and (path is None or path in r.path))

    def reset_log(self) -> None:
        self.log.clear()

    def _fault_for(self, model: str) -> Fault | None:
        fault = self._next_fault(model)
        if fault is not None and fault.chance < 1.0 and self.rng.random() >= fault.chance:
            return None   # this request drew no fault
        return fault

    def _next_fault(self, model: str) -> Fault | None:
        for key in (model, "*"):
            q = self._queued.get(key)
            if q:
                return q.popleft()
        for key in (model, "*"):
            f = self._standing.get(key)
            if f is not None:
                if f.times is not None:
                    f.times -= 1
                    if f.times <= 0:
                        del self._standing[key]
                return f
        return None

    # -- helpers ------------------------------------------------------------------
    def _record(self, request: web.Request, model: str | None, stream: bool, status: int,
                fault: Fault | None, body: dict[str, Any] | None) -> None:
        self.log.append(SimRequest(time.time(), request.path, model, stream, status,
                                   fault.name if fault else "none",
                                   body if self.keep_bodies else None,
                                   dict(request.headers) if self.keep_bodies else None,
                                   self._key_number(request)))

    def _key_number(self, request: web.Request) -> int | None:
        if not self.api_keys:
            return None
        key = self.presented_key(request, "anthropic" if "x-api-key" in request.headers
                                 else "openai")
        return self._key_numbers.get(key)

    def _error(self, status: int, model: str, fault: Fault | None = None, *,
               code: str | None = None, message: str | None = None,
               headers: dict[str, str] | None = None, api: str = "openai") -> web.Response:
        flavor = (fault.flavor if fault and fault.flavor else None) or (
            "anthropic" if api == "anthropic" else self.flavor)
        body = error_body(flavor, status, model, code=code or (fault.code if fault else None),
                          message=message or (fault.message if fault else None))
        hdrs = dict(headers or {})
        if fault is not None:
            hdrs.update(fault.headers)
            if fault.retry_after is not None:
                hdrs["retry-after"] = str(math.ceil(fault.retry_after))
        return web.Response(status=status, body=_json.dumps(body), content_type=_JSON, headers=hdrs)

    def _bucket(self, model: str, kind: str, key: str = "") -> Bucket | None:
        """The `kind` bucket of `model` for the presented key (each key has its own)."""
        limit = self._limits[kind]
        if limit is None:
            return None
        b = self._buckets.get((key, model, kind))
        if b is None:
            window = {"rpm": 60.0, "rpd": 86400.0, "tpm": 60.0}[kind]
            b = self._buckets[(key, model, kind)] = Bucket(limit, window, self.clock, 0,
                                                           self.clock())
        return b

    def _rate_check(self, model: str, tokens: int,
                    key: str = "") -> tuple[web.Response | None, dict[str, str]]:
        headers: dict[str, str] = {}
        req = self._bucket(model, "rpm", key) or self._bucket(model, "rpd", key)
        tok = self._bucket(model, "tpm", key)
        denied: tuple[str, Bucket] | None = None
        if req is not None:
            kind = "requests per minute (RPM)" if self._limits["rpm"] else "requests per day (RPD)"
            if not req.take():
                denied = (kind, req)
        if denied is None and tok is not None and not tok.take(tokens):
            denied = ("tokens per minute (TPM)", tok)
        if req is not None:
            headers.update({"x-ratelimit-limit-requests": str(req.limit),
                            "x-ratelimit-remaining-requests": str(req.remaining()),
                            "x-ratelimit-reset-requests": fmt_reset(req.reset_in())})
        if tok is not None:
            headers.update({"x-ratelimit-limit-tokens": str(tok.limit),
                            "x-ratelimit-remaining-tokens": str(tok.remaining()),
                            "x-ratelimit-reset-tokens": fmt_reset(tok.reset_in())})
        if denied is None:
            return None, headers
        kind, bucket = denied
        wait = bucket.reset_in()
        if self.flavor in ("openrouter", "kilo"):   # they say it in the body, not in headers
            return web.Response(status=429, content_type=_JSON, body=_json.dumps(
                openrouter_rate_body(bucket.limit, 0, wait))), {}
        headers["retry-after"] = str(max(1, math.ceil(wait)))
        message = groq_rate_message(model, kind, bucket.limit, round(wait, 2)) \
            if self.flavor in ("groq", "openai") else None
        return self._error(429, model, code="rate_limit_exceeded", message=message,
                           headers=headers), headers

    @web.middleware
    async def _redirects(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.redirect_to is not None:
            target = self.redirect_to.rstrip("/") + request.path_qs
        elif request.path.startswith("/moved/"):
            target = request.path_qs[len("/moved"):]
        else:
            return await handler(request)
        self._record(request, None, False, self.redirect_status, None, None)
        return web.Response(status=self.redirect_status, headers={"Location": target})

    # -- handlers -----------------------------------------------------------------
    def reply_for(self, body: dict[str, Any], model: str) -> SimReply:
        """The test's scripted answer for this request, else the canned one (a call of the
        first tool with `tool_args` when tools are offered, else the reply text)."""
        scripted = self.responder(body) if self.responder is not None else None
        if scripted is not None:
            return scripted
        reply = default_reply(self.reply.format(name=self.name, model=model), body)
        if not reply.tool_calls:
            return SimReply(reply.text, reasoning=self.reasoning or "")
        try:
            arguments = _json.loads(self.tool_args)
        except _json.JSONDecodeError:
            arguments = {"_raw_arguments": self.tool_args}
        call = ToolCall(reply.tool_calls[0].name, arguments if isinstance(arguments, dict) else {})
        return SimReply(self.tool_text, (call,), self.reasoning or "")

    @staticmethod
    def presented_key(request: web.Request, api: str = "openai") -> str:
        """The key the request carries (`x-api-key` for Anthropic's format)."""
        if api == "anthropic":
            return request.headers.get("x-api-key", "")
        auth = request.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else ""

    def _authorized(self, request: web.Request, api: str) -> bool:
        key = self.presented_key(request, api)
        if key in self.revoked:
            return False
        if self.api_keys:
            return key in self.api_keys
        return self.api_key is None or key == self.api_key

    async def _preamble(self, request: web.Request, api: str = "openai") -> tuple[dict[str, Any] | None, web.StreamResponse | None, Fault | None]:
        """Parse, authenticate and apply faults that act before any answer."""
        try:
            body = _json.loads(await request.read())
        except (_json.JSONDecodeError, ValueError):
            self._record(request, None, False, 400, None, None)
            return None, self._error(400, "", message="We could not parse the JSON body of your request.", api=api), None
        if not isinstance(body, dict):
            return None, self._error(400, "", message="body must be a JSON object", api=api), None
        model = str(body.get("model", ""))
        stream = bool(body.get("stream"))
        if not self._authorized(request, api):
            self._record(request, model, stream, 401, None, body)
            return body, self._error(401, model, code="invalid_api_key"
                                     if api == "openai" else None, api=api), None
        fault = self._fault_for(model)
        if fault is not None:
            if fault.reset:
                self._record(request, model, stream, 0, fault, body)
                if request.transport is not None:
                    request.transport.abort()
                return body, web.Response(status=500), fault
            if fault.hang:
                self._record(request, model, stream, 0, fault, body)
                await asyncio.Event().wait()
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.body_reset is not None:
                self._record(request, model, stream, 429, fault, body)
                daily = fault.body_reset > 60   # OpenRouter's :free caps: 20/min, 50/day
                limit = (self._limits["rpd"] or 50) if daily else (self._limits["rpm"] or 20)
                return body, web.Response(status=429, content_type=_JSON, body=_json.dumps(
                    openrouter_rate_body(limit, 0, fault.body_reset))), fault
            if fault.status is not None:
                self._record(request, model, stream, fault.status, fault, body)
                return body, self._error(fault.status, model, fault, api=api), fault
        if model not in self.models:
            self._record(request, model, stream, 404, fault, body)
            if api == "anthropic":
                return body, self._error(404, model, message=f"model: {model}", api=api), fault
            return body, self._error(404, model, code="model_not_found",
                                     message=f"The model `{model}` does not exist or you do not have access to it.", api=api), fault
        return body, None, fault

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, early, fault = await self._preamble(request)
        if early is not None or body is None:
            assert early is not None
            return early
        model = str(body["model"])
        stream = bool(body.get("stream"))
        scripted = self.responder(body) if self.responder is not None else None
        text = scripted.text if scripted is not None else self.reply.format(name=self.name,
                                                                             model=model)
        prefix = prefill_of(body.get("messages"))
        if prefix is not None:
            if not self.prefill:
                self._record(request, model, stream, 400, fault, body)
                return self._error(400, model, message=(
                    "assistant message prefill is not supported by this model: the last "
                    "message must have role 'user' or 'tool'"))
            if self.prefill != "ignore":   # "ignore": answers anew, as if it were history
                rest = continuation_of(text, prefix)
                text = rest if rest is not None else text
        if self.reject_stream_options and "stream_options" in body:
            self._record(request, model, stream, 400, fault, body)
            return self._error(400, model, message="Unrecognized request argument supplied: "
                                                   "stream_options")
        prompt_tokens = max(1, len(_json.dumps(body.get("messages", []))) // 4)
        limited, rl_headers = self._rate_check(model, prompt_tokens + int(body.get("max_tokens") or 16),
                                               self.presented_key(request))
        if limited is not None:
            self._record(request, model, stream, 429, fault, body)
            return limited
        if self.latency:
            await asyncio.sleep(self.latency)
        self._record(request, model, stream, 200, fault, body)
        tool = (body.get("tools") or [None])[0]
        if stream:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache", **rl_headers})
            await resp.prepare(request)
            n = body.get("n") if isinstance(body.get("n"), int) and body["n"] > 1 else 1
            name = (tool or {}).get("function", {}).get("name", "tool") if tool else None
            if scripted is not None:
                return await write_stream(request, resp, StreamPlan(
                    model, text, self.chunk_count, prompt_tokens, tools=[
                        {"name": c.name, "arguments": _json.dumps(c.arguments).decode(),
                         "id": scripted.call_id(k)} for k, c in enumerate(scripted.tool_calls)],
                    tool_chunks=self.tool_chunks, chunk_delay=self.chunk_delay,
                    reasoning=scripted.reasoning or None,
                    include_usage=self.stream_usage and bool(
                        (body.get("stream_options") or {}).get("include_usage"))),
                    fault, self.rng)
            plan = StreamPlan(
                model, self.tool_text if tool else text, self.chunk_count, prompt_tokens, n=n,
                tool={"name": name, "arguments": self.tool_args} if tool else None,
                tool_chunks=self.tool_chunks, chunk_delay=self.chunk_delay,
                reasoning=self.reasoning,
                include_usage=self.stream_usage and bool(
                    (body.get("stream_options") or {}).get("include_usage")))
            return await write_stream(request, resp, plan, fault, self.rng)
        if fault is not None and fault.garbage is not None:
            return web.Response(body=fault.garbage, content_type=_JSON, headers=rl_headers)
        answer = self._complete(model, text, tool, prompt_tokens, rl_headers, scripted)
        if fault is not None and fault.stall_after is not None:
            return await stall_body(request, answer)
        return answer

    def _complete(self, model: str, text: str, tool: Any, prompt_tokens: int,
                  headers: dict[str, str], scripted: SimReply | None = None) -> web.Response:
        completion_tokens = max(1, len(text) // 4)
        if scripted is not None:
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if scripted.tool_calls:
                message["tool_calls"] = [
                    {"id": scripted.call_id(k), "type": "function",
                     "function": {"name": c.name, "arguments": _json.dumps(c.arguments).decode()}}
                    for k, c in enumerate(scripted.tool_calls)]
            if scripted.reasoning:
                message["reasoning_content"] = scripted.reasoning
            finish = scripted.finish
        elif tool:
            message = {"role": "assistant", "content": self.tool_text or None,
                                       "tool_calls": [{
                "id": "call_sim_1", "type": "function",
                "function": {"name": tool.get("function", {}).get("name", "tool"),
                             "arguments": self.tool_args}}]}
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": text}, "stop"
        out = {"id": "chatcmpl-sim", "object": "chat.completion", "created": int(time.time()),
               "model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
               "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                         "total_tokens": prompt_tokens + completion_tokens}}
        return web.Response(body=_json.dumps(out), content_type=_JSON, headers=headers)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body, early, fault = await self._preamble(request)
        if early is not None or body is None:
            assert early is not None
            return early
        if fault is not None and fault.garbage is not None:
            self._record(request, str(body["model"]), False, 200, fault, body)
            return web.Response(body=fault.garbage, content_type=_JSON)
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        self._record(request, str(body["model"]), False, 200, None, body)
        data = [{"object": "embedding", "index": i,
                 "embedding": [round(((hash(str(x)) >> k) % 1000) / 1000, 3) for k in range(8)]}
                for i, x in enumerate(items)]
        tokens = sum(max(1, len(str(x)) // 4) for x in items)
        out = {"object": "list", "data": data, "model": body["model"],
               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return web.Response(body=_json.dumps(out), content_type=_JSON)

    async def _models(self, request: web.Request) -> web.Response:
        if self.models_latency:
            await asyncio.sleep(self.models_latency)
        fault = self._standing.get("*")
        if fault is not None and fault.on_models and fault.status is not None:
            return self._error(fault.status, "", fault)
        if not (self._authorized(request, "openai") or self._authorized(request, "anthropic")):
            return self._error(401, "", code="invalid_api_key")
        data = [{"id": m, "object": "model", "created": 0, "owned_by": self.name} for m in self.models]
        return web.Response(body=_json.dumps({"object": "list", "data": data}), content_type=_JSON)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"healthy"}', content_type=_JSON)
