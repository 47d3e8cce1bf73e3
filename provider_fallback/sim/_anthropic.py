"""A simulated provider speaking Anthropic's Messages API: `POST /v1/messages` (stream and
not, text, thinking and tool_use blocks), `POST /v1/messages/count_tokens`, errors in
Anthropic's shape, `anthropic-ratelimit-*` headers. Faults act as on the chat route.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import _json
from ._replies import SimReply

if TYPE_CHECKING:
    from ._server import SimProvider

__all__ = ["add_messages_routes"]

_JSON = "application/json"
_STOP = {"tool_calls": "tool_use", "stop": "end_turn"}


def add_messages_routes(sim: SimProvider, app: web.Application) -> None:
    async def messages(request: web.Request) -> web.StreamResponse:
        return await _messages(sim, request)

    async def count_tokens(request: web.Request) -> web.StreamResponse:
        body, early, _ = await sim._preamble(request, api="anthropic")
        if early is not None or body is None:
            assert early is not None
            return early
        sim._record(request, str(body.get("model")), False, 200, None, body)
        return web.json_response({"input_tokens": _prompt_tokens(body)})

    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)


def _prompt_tokens(body: dict[str, Any]) -> int:
    return max(1, len(_json.dumps([body.get("system"), body.get("messages"), body.get("tools")])) // 4)


def _reset_at(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rate_check(sim: SimProvider, model: str, tokens: int, key: str = ""
                ) -> tuple[web.Response | None, dict[str, str]]:
    """Anthropic's per-minute buckets and headers: requests, then (input) tokens."""
    headers: dict[str, str] = {}
    denied = None
    for unit, bucket, amount in (("requests", sim._bucket(model, "rpm", key), 1),
                                 ("tokens", sim._bucket(model, "tpm", key), tokens)):
        if bucket is None:
            continue
        if denied is None and not bucket.take(amount):
            denied = (unit, bucket)
        headers[f"anthropic-ratelimit-{unit}-limit"] = str(bucket.limit)
        headers[f"anthropic-ratelimit-{unit}-remaining"] = str(bucket.remaining())
        headers[f"anthropic-ratelimit-{unit}-reset"] = _reset_at(bucket.reset_in())
    if denied is None:
        return None, headers
    unit, bucket = denied
    headers["retry-after"] = str(max(1, math.ceil(bucket.reset_in())))
    what = "requests" if unit == "requests" else "input tokens"
    message = (f"This request would exceed the rate limit for your organization of "
               f"{bucket.limit} {what} per minute. For details, refer to: "
               f"https://docs.claude.com/en/api/rate-limits.")
    return sim._error(429, model, message=message, headers=headers, api="anthropic"), headers


async def _messages(sim: SimProvider, request: web.Request) -> web.StreamResponse:
    body, early, fault = await sim._preamble(request, api="anthropic")
    if early is not None or body is None:
        assert early is not None
        return early
    model = str(body["model"])
    stream = bool(body.get("stream"))
    if not request.headers.get("anthropic-version"):
        sim._record(request, model, stream, 400, fault, body)
        return sim._error(400, model, message="anthropic-version: header is required",
                          api="anthropic")
    if not isinstance(body.get("max_tokens"), int):
        sim._record(request, model, stream, 400, fault, body)
        return sim._error(400, model, message="max_tokens: Field required", api="anthropic")
    prompt = _prompt_tokens(body)
    limited, headers = _rate_check(sim, model, prompt, sim.presented_key(request, "anthropic"))
    if limited is not None:
        sim._record(request, model, stream, 429, fault, body)
        return limited
    if sim.latency:
        await asyncio.sleep(sim.latency)
    sim._record(request, model, stream, 200, fault, body)
    reply = sim.reply_for(body, model)
    if isinstance(body.get("thinking"), dict) and body["thinking"].get("type") == "enabled" \
            and not reply.reasoning:
        reply = SimReply(reply.text, reply.tool_calls, "Thinking it over.", "sig-sim-1")
    usage = {"input_tokens": prompt, "output_tokens": max(1, len(reply.text) // 4),
             "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
    if stream:
        return await _stream(sim, request, model, reply, fault, headers, usage)
    content = [block for block, _ in _blocks(reply, sim.chunk_count)]
    out = {"id": "msg_sim_1", "type": "message", "role": "assistant", "model": model,
           "content": content, "stop_reason": _STOP[reply.finish], "stop_sequence": None,
           "usage": usage}
    return web.Response(body=_json.dumps(out), content_type=_JSON, headers=headers)


def _blocks(reply: SimReply, pieces: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each content block whole, and the deltas that stream it."""
    out: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if reply.reasoning:
        deltas: list[dict[str, Any]] = [{"type": "thinking_delta", "thinking": reply.reasoning}]
        if reply.signature:
            deltas.append({"type": "signature_delta", "signature": reply.signature})
        out.append(({"type": "thinking", "thinking": reply.reasoning,
                     "signature": reply.signature}, deltas))
    if reply.text:
        size = max(1, math.ceil(len(reply.text) / pieces))
        out.append(({"type": "text", "text": reply.text},
                    [{"type": "text_delta", "text": reply.text[i:i + size]}
                     for i in range(0, len(reply.text), size)]))
    for n, call in enumerate(reply.tool_calls):
        arguments = _json.dumps(call.arguments).decode()
        half = len(arguments) // 2
        block = {"type": "tool_use", "id": call.id or f"toolu_sim_{n + 1}", "name": call.name,
                 "input": dict(call.arguments)}
        out.append((block, [{"type": "input_json_delta", "partial_json": part}
                            for part in (arguments[:half], arguments[half:]) if part]))
    return out


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\n".encode() + b"data: " + _json.dumps({"type": kind, **data}) + b"\n\n"


async def _stream(sim: SimProvider, request: web.Request, model: str, reply: SimReply,
                  fault: Any, headers: dict[str, str], usage: dict[str, Any]
                  ) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache", **headers})
    await resp.prepare(request)
    if fault is not None and fault.first_token_delay:
        await asyncio.sleep(fault.first_token_delay)
    await resp.write(_event("message_start", {"message": {
        "id": "msg_sim_1", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1}}}))
    await resp.write(_event("ping", {}))
    sent = 0   # content deltas written, for the stream faults
    for index, (block, deltas) in enumerate(_blocks(reply, sim.chunk_count)):
        start = {**block, "text": ""} if block["type"] == "text" else \
            {**block, "input": {}} if block["type"] == "tool_use" else \
            {**block, "thinking": "", "signature": ""} if block["type"] == "thinking" else block
        await resp.write(_event("content_block_start", {"index": index, "content_block": start}))
        for delta in deltas:
            if fault is not None:
                if fault.cut_after is not None and sent >= fault.cut_after:
                    if request.transport is not None:
                        request.transport.abort()
                    return resp
                if fault.stall_after is not None and sent >= fault.stall_after:
                    await asyncio.Event().wait()
                if fault.malformed_after is not None and sent == fault.malformed_after:
                    await resp.write(b'event: content_block_delta\ndata: {"type": "content_blo\n\n')
            await resp.write(_event("content_block_delta", {"index": index, "delta": delta}))
            sent += 1
            if sim.chunk_delay:
                await asyncio.sleep(sim.chunk_delay)
        await resp.write(_event("content_block_stop", {"index": index}))
    await resp.write(_event("message_delta", {
        "delta": {"stop_reason": _STOP[reply.finish], "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"]}}))
    if not (fault is not None and fault.no_done):
        await resp.write(_event("message_stop", {}))
    await resp.write_eof()
    return resp
