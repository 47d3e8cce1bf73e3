"""Validating an upstream SSE stream: every chunk is JSON, failures get registry codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from .. import _json
from ..config import Target
from ..errors import Failure, UpstreamError, classify_exception, classify_response, spec
from ..providers import DONE, iter_sse_data

__all__ = ["has_content", "validated_chunks"]


def _fail(code: str, target: Target, message: str) -> UpstreamError:
    return UpstreamError(Failure(spec(code), provider=target.provider.name, model=target.model,
                                 message=message))


def has_content(chunk: dict[str, Any]) -> bool:
    """True once a chunk carries something the client would see as an answer."""
    choices = chunk.get("choices")
    if choices:
        for choice in choices:
            delta = choice.get("delta") or {}
            if delta.get("content") or delta.get("tool_calls") or delta.get("function_call") \
                    or delta.get("reasoning") or delta.get("reasoning_content") \
                    or choice.get("finish_reason"):
                return True
        return False
    return bool(chunk.get("usage") or chunk.get("data") or chunk.get("embedding"))


async def validated_chunks(resp: aiohttp.ClientResponse, target: Target, stall_timeout: float,
                           state: dict[str, bool]) -> AsyncIterator[bytes]:
    """Yield each chunk's JSON bytes; raise UpstreamError(stream_*) on any breakage.

    `state["content"]` turns true at the first chunk with content; `state["finished"]`
    once a finish_reason was seen (an EOF without [DONE] after that is finalised cleanly).
    """
    name, model = target.provider.name, target.model
    try:
        async for data in iter_sse_data(resp.content, stall_timeout):
            if data == DONE:
                return
            try:
                chunk = _json.loads(data)
            except _json.JSONDecodeError:
                raise _fail("stream_malformed_chunk", target,
                            "upstream sent a stream chunk that is not JSON") from None
            if not isinstance(chunk, dict):
                raise _fail("stream_malformed_chunk", target, "stream chunk is not a JSON object")
            if "error" in chunk and not chunk.get("choices"):
                raise UpstreamError(classify_response(502, resp.headers, chunk,
                                                      provider=name, model=model))
            if not state["content"] and has_content(chunk):
                state["content"] = True
            if not state["finished"]:
                for choice in chunk.get("choices") or ():
                    if choice.get("finish_reason"):
                        state["finished"] = True
            yield data
    except TimeoutError:
        raise _fail("stream_stalled", target,
                    f"no stream chunk for {stall_timeout:g}s (stall_timeout)") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamError(classify_exception(exc, provider=name, model=model,
                                               phase="stream")) from None
    if not state["finished"]:
        raise _fail("stream_cut", target, "upstream closed the stream before it finished")
