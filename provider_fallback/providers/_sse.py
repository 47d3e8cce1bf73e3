"""Server-sent events from an upstream, read line by line with a stall timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

__all__ = ["DONE", "iter_sse_data"]

DONE = b"[DONE]"


async def iter_sse_data(content: aiohttp.StreamReader, stall_timeout: float) -> AsyncIterator[bytes]:
    """Yield each event's `data` payload (bytes, without the prefix), `DONE` included.

    Comment lines (`: keep-alive`, OpenRouter's `: OPENROUTER PROCESSING`) and other
    fields are skipped. A gap longer than `stall_timeout` between lines raises
    TimeoutError; EOF simply ends the iteration (the caller decides if that was early).
    """
    data: list[bytes] = []
    while True:
        async with asyncio.timeout(stall_timeout):
            line = await content.readline()
        if not line:
            if data:
                yield b"\n".join(data)
            return
        line = line.rstrip(b"\r\n")
        if not line:
            if data:
                yield b"\n".join(data)
                data = []
            continue
        if line.startswith(b"data:"):
            payload = line[5:]
            if payload[:1] == b" ":
                payload = payload[1:]
            data.append(payload)
        # ":" comments, "event:", "id:", "retry:" are not relayed
