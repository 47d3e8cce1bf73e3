"""Header bombs and malformed requests on a raw socket: a clean 431/400, bounded memory,
and the server keeps answering."""

from __future__ import annotations

import asyncio

from front_door import CHAT_BODY, closed_within, exchange, front_door, parse, port_of, request

LIMITS = {"max_header_size": "4KiB", "max_headers": 20}


async def test_too_many_header_bytes_is_431():
    async with front_door(LIMITS) as (gw, _):
        port = port_of(gw)
        bomb = request("GET", "/health", headers={f"X-Pad-{i}": "a" * 300 for i in range(15)})
        status, headers, body = parse(await exchange(port, bomb))
        assert status == 431 and body["error"]["code"] == "headers_too_large"
        assert "server.max_header_size" in body["error"]["message"]
        assert headers["connection"] == "close"
        # just under the limit is served
        ok = request("GET", "/health", headers={f"X-Pad-{i}": "a" * 200 for i in range(15)})
        assert parse(await exchange(port, ok))[0] == 200


async def test_too_many_headers_is_431():
    async with front_door(LIMITS) as (gw, _):
        bomb = request("GET", "/health", headers={f"X-{i}": "1" for i in range(25)})
        status, _, body = parse(await exchange(port_of(gw), bomb))
        assert status == 431 and "server.max_headers" in body["error"]["message"]


async def test_an_unfinished_giant_header_is_refused_while_it_arrives():
    # one header value that never ends: refused once the head passes the limit, without
    # waiting for (or buffering) the rest; before, httptools buffered it all
    async with front_door(LIMITS) as (gw, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(gw))
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bomb: ")
        for _ in range(16):
            writer.write(b"b" * 1024)
        await writer.drain()
        raw = await closed_within(reader, 5)
        writer.close()
        assert raw is not None and parse(raw)[0] == 431


async def test_the_limit_holds_for_a_post_and_on_a_kept_alive_connection():
    async with front_door(LIMITS) as (gw, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(gw))
        writer.write(request("POST", "/v1/chat/completions", CHAT_BODY, close=False))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(request("POST", "/v1/chat/completions", CHAT_BODY,
                             headers={"X-Big": "z" * 5000}))
        await writer.drain()
        raw = await closed_within(reader, 5)
        writer.close()
        assert raw is not None and parse(raw)[0] == 431


async def test_garbage_gets_a_json_400_and_the_server_stays_up():
    async with front_door() as (gw, _):
        port = port_of(gw)
        for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # TLS hello
                     b"GET / HTTP/9.9\r\n\r\n", b"HELLO\r\n\r\n",
                     b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Length: 5\r\nContent-Length: 7\r\n\r\nabcde",
                     b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n"):
            raw = await exchange(port, junk)
            status, _, body = parse(raw)
            assert status == 400, raw[:200]
            assert body["error"]["code"] == "invalid_request"
        assert parse(await exchange(port, request("GET", "/health")))[0] == 200
