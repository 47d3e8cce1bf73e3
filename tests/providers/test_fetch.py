"""The Fetcher: probes, count_tokens, alert webhooks and the doctor on the gateway's own
HTTP client, over loopback to real sockets."""

from __future__ import annotations

import asyncio
import json

import pytest
from test_http1 import _read_request, answer, keepalive, server

from provider_fallback.errors import _wire, classify_exception
from provider_fallback.providers._fetch import Fetcher
from provider_fallback.providers._redirects import send


async def test_a_get_and_a_json_post_arrive_as_sent() -> None:
    seen: list[tuple[bytes, bytes]] = []

    def reply(head: bytes, body: bytes) -> bytes:
        seen.append((head, body))
        return answer(b'{"ok":true}')

    async with server(keepalive(reply)) as (url, conns):
        fetcher = Fetcher()
        try:
            async with await fetcher.request("GET", url + "/v1/models?x=1",
                                             headers={"Authorization": "Bearer k"}) as resp:
                assert resp.status == 200 and await resp.read() == b'{"ok":true}'
            async with await fetcher.request("POST", url + "/hook", json={"a": 1}) as resp:
                assert resp.status == 200
                await resp.read()
        finally:
            await fetcher.aclose()
    assert seen[0][0].startswith(b"GET /v1/models?x=1 HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer k\r\n" in seen[0][0]
    assert b"\r\nUser-Agent: provider-fallback/" in seen[0][0]   # the request path's too
    assert b"\r\nContent-Type: application/json\r\n" in seen[1][0]
    assert json.loads(seen[1][1]) == {"a": 1}
    assert len(conns) == 1          # kept alive by default


async def test_credentials_in_the_url_are_sent_as_basic_auth_and_not_in_the_path() -> None:
    seen: list[bytes] = []

    def reply(head: bytes, body: bytes) -> bytes:
        seen.append(head)
        return answer(b"{}")

    async with server(keepalive(reply)) as (url, _):
        fetcher = Fetcher()
        try:
            hook = url.replace("http://", "http://alerts:s%40cret@") + "/hook"
            async with await fetcher.request("POST", hook, json={"a": 1}) as resp:
                assert resp.status == 200
                await resp.read()
        finally:
            await fetcher.aclose()
    assert seen[0].startswith(b"POST /hook HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Basic YWxlcnRzOnNAY3JldA==\r\n" in seen[0]   # alerts:s@cret
    assert b"s%40cret" not in seen[0] and b"s@cret" not in seen[0]


async def test_without_keepalive_every_request_has_a_connection_of_its_own() -> None:
    async with server(keepalive(lambda h, b: answer(b"{}"))) as (url, conns):
        fetcher = Fetcher(keepalive=False)
        try:
            for _ in range(3):
                async with await fetcher.request("GET", url + "/") as resp:
                    await resp.read()
        finally:
            await fetcher.aclose()
    assert len(conns) == 3


async def test_a_same_origin_redirect_is_followed_by_send() -> None:
    def reply(head: bytes, body: bytes) -> bytes:
        if head.startswith(b"GET /old "):
            return answer(b"", "Location: /new", status="308 Permanent Redirect")
        return answer(b'{"at":"new"}')

    async with server(keepalive(reply)) as (url, _):
        fetcher = Fetcher()
        try:
            resp, final = await send(fetcher, "GET", url + "/old")
            async with resp:
                assert resp.status == 200 and await resp.read() == b'{"at":"new"}'
            assert final == url + "/new"
        finally:
            await fetcher.aclose()


async def test_what_cannot_be_sent_is_refused_before_the_wire() -> None:
    fetcher = Fetcher()
    with pytest.raises(_wire.InvalidURL) as info:
        await fetcher.request("GET", "ftp://example.invalid/x")
    assert classify_exception(info.value, provider="p").code == "config_error"
    with pytest.raises(ValueError, match="cannot send"):
        await fetcher.request("GET", "http://127.0.0.1:1/", headers={"X-Key": "a\r\nInjected: 1"})
    with pytest.raises(ValueError, match="redirects"):
        await fetcher.request("GET", "http://127.0.0.1:1/", allow_redirects=True)


async def test_a_refused_connection_is_a_classified_connect_error(unused_tcp_port: int) -> None:
    fetcher = Fetcher()
    with pytest.raises(_wire.ConnectError) as info:
        await fetcher.request("GET", f"http://127.0.0.1:{unused_tcp_port}/")
    assert f"127.0.0.1:{unused_tcp_port}" in str(info.value)
    assert classify_exception(info.value, provider="p").code == "connection_refused"
    await fetcher.aclose()


async def test_a_hanging_server_is_bounded_by_the_callers_timeout() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async with server(hang) as (url, _):
        fetcher = Fetcher()
        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await fetcher.request("GET", url + "/")
        finally:
            await fetcher.aclose()
