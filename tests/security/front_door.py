"""Helpers for the front-door attack suite: raw sockets against the real server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway_harness import Gateway, gateway_running, make_config, sims_running

CHAT_BODY = b'{"model":"chat","messages":[{"role":"user","content":"hi"}]}'


def port_of(gw: Gateway) -> int:
    return int(gw.base_url.rsplit(":", 1)[1])


def request(method: str, path: str, body: bytes = b"", *, host: bytes = b"127.0.0.1",
            headers: dict[str, str] | None = None, close: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + host]
    hdrs = {"Content-Type": "application/json", **(headers or {})} if body else dict(headers or {})
    if body:
        hdrs.setdefault("Content-Length", str(len(body)))
    if close:
        hdrs.setdefault("Connection", "close")
    lines += [f"{k}: {v}".encode() for k, v in hdrs.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body or text) of one HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while rest:
            size_text, _, rest = rest.partition(b"\r\n")
            size = int(size_text or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    try:
        return status, headers, json.loads(body)
    except ValueError:
        return status, headers, body.decode("latin-1")


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """What the server sent before closing, or None if it kept the connection open."""
    try:
        return await asyncio.wait_for(reader.read(-1), seconds)
    except TimeoutError:
        return None
    except ConnectionError:
        return b""


@asynccontextmanager
async def front_door(server: dict[str, Any] | None = None, *, sims: int = 1,
                     **make: Any) -> AsyncIterator[tuple[Gateway, list[Any]]]:
    """A gateway (with `server:` settings) in front of simulated providers p0, p1, ..."""
    specs = [{"name": f"p{i}", "models": ["m"]} for i in range(sims)]
    async with sims_running(*specs) as started:
        cfg = make_config({f"p{i}": s for i, s in enumerate(started)},
                          {"chat": [f"p{i}/m" for i in range(sims)]}, server=server, **make)
        async with gateway_running(cfg) as gw:
            yield gw, started
