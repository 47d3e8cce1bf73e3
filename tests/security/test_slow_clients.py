"""Slowloris and friends: a connection that sends nothing, half a header, or a body that
stops is closed within its timeout; a kept-alive connection idles only so long."""

from __future__ import annotations

import asyncio
import contextlib

from front_door import closed_within, front_door, parse, port_of, request

FAST = {"header_timeout": "0.5s", "body_timeout": "0.5s", "keep_alive_timeout": "1s"}


async def _open(port: int, first: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if first:
        writer.write(first)
        await writer.drain()
    return reader, writer


async def test_slowloris_sockets_are_all_closed_within_the_header_timeout():
    async with front_door(FAST) as (gw, _):
        port = port_of(gw)
        conns = [await _open(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                 for _ in range(20)]

        async def drip(writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                for i in range(40):          # one header line every 0.1 s, never the end
                    writer.write(b"X-%d: a\r\n" % i)
                    await writer.drain()
                    await asyncio.sleep(0.1)

        drips = [asyncio.create_task(drip(w)) for _, w in conns]
        try:
            answers = await asyncio.gather(*(closed_within(r, 5) for r, _ in conns))
        finally:
            for t in drips:
                t.cancel()
            for _, w in conns:
                w.close()
        assert all(a is not None for a in answers), "a slowloris socket stayed open"
        assert all(parse(a)[0] == 408 for a in answers if a)
        # meanwhile and after, a normal client is served
        reader, writer = await _open(port, request("GET", "/health"))
        assert parse(await reader.read(-1))[0] == 200
        writer.close()


async def test_a_connection_that_sends_nothing_is_closed():
    async with front_door(FAST) as (gw, _):
        reader, writer = await _open(port_of(gw))
        assert await closed_within(reader, 5) == b""
        writer.close()


async def test_a_body_that_stops_gets_408():
    async with front_door(FAST) as (gw, _):
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\"")
        reader, writer = await _open(port_of(gw), head)
        raw = await closed_within(reader, 5)
        writer.close()
        assert raw is not None
        status, _, body = parse(raw)
        assert status == 408 and body["error"]["code"] == "client_timeout"
        assert "server.body_timeout" in body["error"]["message"]


async def test_an_idle_kept_alive_connection_is_closed():
    async with front_door(FAST) as (gw, _):
        reader, writer = await _open(port_of(gw), request("GET", "/health", close=False))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
        # not before its time: a third of the keep-alive timeout later it still serves
        await asyncio.sleep(0.3)
        writer.write(request("GET", "/health", close=False))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
        assert await closed_within(reader, 5) == b""
        writer.close()


async def test_a_slow_but_steady_body_is_not_cut():
    # the body timeout is a pause between chunks, not a deadline for the whole body
    async with front_door(FAST) as (gw, _):
        body = b'{"model":"chat","messages":[{"role":"user","content":"' + b"x" * 40 + b'"}]}'
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        reader, writer = await _open(port_of(gw), head)
        for i in range(0, len(body), 10):     # 0.2 s between chunks, ~1.8 s in all
            writer.write(body[i:i + 10])
            await writer.drain()
            await asyncio.sleep(0.2)
        raw = await closed_within(reader, 5)
        writer.close()
        assert raw is not None and parse(raw)[0] == 200
