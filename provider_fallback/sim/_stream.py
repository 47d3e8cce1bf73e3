"""A simulated provider's streamed answer, with every stream fault the tests need (and
`stall_body`, a non-streaming answer that stalls half-way).

Content chunks are counted from 0; a fault "after N" acts before chunk N is written (so
`cut_after=0` cuts before any content, `cut_after=3` after three content chunks).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import _json
from ._faults import Fault
from ._script import pieces, split_args

__all__ = ["StreamPlan", "stall_body", "write_stream"]


@dataclass(slots=True)
class StreamPlan:
    model: str
    text: str
    chunk_count: int
    prompt_tokens: int
    n: int = 1
    tool: dict[str, Any] | None = None      # {"name": ..., "arguments": "..."}
    tools: list[dict[str, Any]] | None = None   # several calls: {"name", "arguments", "id"}
    tool_chunks: int = 3
    include_usage: bool = False              # the request asked and the sim supports it
    chunk_delay: float = 0.0
    reasoning: str | None = None


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


async def write_stream(request: web.Request, resp: web.StreamResponse, plan: StreamPlan,
                       fault: Fault | None, rng: random.Random) -> web.StreamResponse:
    base = {"id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": plan.model}

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + _json.dumps({**base, "choices": choices, **extra}) + b"\n\n"

    def each(delta: dict[str, Any], finish: str | None = None,
             skip: int | None = None) -> bytes:
        return event([{"index": i, "delta": delta, "finish_reason": finish}
                      for i in range(plan.n) if i != skip])

    if fault is not None and fault.first_token_delay:
        await asyncio.sleep(fault.first_token_delay)
    await resp.write(each({"role": "assistant", "content": ""}))
    chunks: list[bytes] = []
    if plan.reasoning:
        chunks += [each({"reasoning_content": p}) for p in pieces(plan.reasoning, 0)]
    calls = plan.tools or ([plan.tool] if plan.tool is not None else [])
    if calls:
        if plan.text:
            chunks += [each({"content": p}) for p in pieces(plan.text, plan.chunk_count)]
        for k, tool in enumerate(calls):
            args = split_args(tool.get("arguments", "{}"), plan.tool_chunks)
            call = {"index": k, "id": tool.get("id") or f"call_sim_{k + 1}", "type": "function",
                    "function": {"name": tool["name"], "arguments": args[0]}}
            chunks.append(each({"tool_calls": [call]}))
            chunks += [each({"tool_calls": [{"index": k, "function": {"arguments": a}}]})
                       for a in args[1:]]
        finish = "tool_calls"
    else:
        chunks += [each({"content": p}) for p in pieces(plan.text, plan.chunk_count)]
        finish = "stop"
    cut_at = fault.cut_after if fault is not None else None
    if fault is not None and fault.cut_random and len(chunks) > 1:
        cut_at = rng.randint(1, len(chunks) - 1)
    for i, chunk in enumerate(chunks):
        if fault is not None:
            if cut_at is not None and i >= cut_at:
                _abort(request)
                return resp
            if fault.stall_after is not None and i >= fault.stall_after:
                await asyncio.Event().wait()
            if fault.malformed_after is not None and i == fault.malformed_after:
                await resp.write(b'data: {"id": "chatcmpl-sim", "choices": [{"delta": {"content": "bro\n\n')
            if fault.error_after is not None and i >= fault.error_after:
                err = {"code": fault.error_status, "message": fault.error_message}
                if fault.error_finish_only:
                    await resp.write(each({"content": ""}, "error"))
                else:
                    await resp.write(event([{"index": 0, "delta": {"content": ""},
                                             "finish_reason": "error"}], error=err))
                await resp.write(b"data: [DONE]\n\n")
                await resp.write_eof()
                return resp
        await resp.write(chunk)
        if plan.chunk_delay:
            await asyncio.sleep(plan.chunk_delay)
    if cut_at is not None and cut_at >= len(chunks):
        _abort(request)
        return resp
    unfinished = fault.unfinished_choice if fault is not None else None
    await resp.write(each({}, finish, skip=unfinished))
    if plan.include_usage:
        ct = max(1, len(plan.text) // 4) * plan.n
        usage = {"prompt_tokens": plan.prompt_tokens, "completion_tokens": ct,
                 "total_tokens": plan.prompt_tokens + ct}
        await resp.write(event([], usage=usage))
    if not (fault is not None and fault.no_done):
        await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def stall_body(request: web.Request, answer: web.Response) -> web.StreamResponse:
    """`stall_after` on a non-stream answer: its head (the whole Content-Length) and the
    first half of its body, then nothing until the client gives up."""
    body = answer.body
    assert isinstance(body, bytes)
    resp = web.StreamResponse(status=200, headers={**answer.headers})
    resp.content_length = len(body)
    await resp.prepare(request)
    await resp.write(body[:len(body) // 2])
    await asyncio.Event().wait()   # cancelled when the client closes the connection
    return resp   # pragma: no cover
