"""The upstream wire (providers/_http1.py) against raw loopback servers that write exactly
the bytes each case needs: framing, keep-alive, decoding, cuts, proxies and TLS."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from provider_fallback.errors import _wire, classify_exception
from provider_fallback.providers import _answer, _http1
from provider_fallback.providers._http1 import Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


@pytest.fixture(autouse=True)
async def _close_pools(monkeypatch):
    """Every pool a test makes is closed after it (no idle socket left to the GC)."""
    made: list[Pool] = []
    init = Pool.__init__

    def tracked(self: Pool, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)   # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(Pool, "__init__", tracked)
    yield
    for pool in made:
        await pool.aclose()
    await asyncio.sleep(0)


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


@asynccontextmanager
async def server(handler: Handler, ssl_ctx: ssl.SSLContext | None = None
                 ) -> AsyncIterator[tuple[str, list[asyncio.StreamWriter]]]:
    conns: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(writer)
        try:
            await handler(reader, writer)   # type: ignore[misc]
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ssl_ctx)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if ssl_ctx else 'http'}://127.0.0.1:{port}", conns
    finally:
        srv.close()


def answer(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in extra)
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n").encode() + body


def keepalive(reply: Callable[[bytes, bytes], bytes]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await _read_request(reader)
            writer.write(reply(head, body))
            await writer.drain()
    return handle


async def ask(pool: Pool, body: bytes = b"{}", path: str = "/v1/chat/completions",
              headers: dict[str, str] | None = None) -> tuple[int, bytes, _http1.Response]:
    static = pool.static(headers or {"Authorization": "Bearer sk-test"})
    resp = await pool.request("POST", path, body, static=static, connect_timeout=5)
    try:
        return resp.status, await resp.read(), resp
    finally:
        resp.release()


async def test_sends_a_well_formed_request_and_reuses_the_connection():
    seen: list[tuple[bytes, bytes]] = []

    def reply(head: bytes, body: bytes) -> bytes:
        seen.append((head, body))
        return answer(b'{"ok":1}')

    async with server(keepalive(reply)) as (url, conns):
        pool = Pool(url + "/v1")
        for i in range(3):
            status, raw, _ = await ask(pool, b'{"n":%d}' % i)
            assert (status, raw) == (200, b'{"ok":1}')
        assert len(conns) == 1   # one keep-alive connection for all three
        head, body = seen[0]
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /v1/chat/completions HTTP/1.1"
        assert f"Host: {url.removeprefix('http://')}" in lines
        assert "Authorization: Bearer sk-test" in lines
        assert "Content-Length: 7" in lines and body == b'{"n":0}'
        assert "Accept-Encoding: gzip, deflate" in lines
        await pool.aclose()


async def test_chunked_and_until_close_bodies_and_gzip():
    payload = b'{"choices":[]}' * 50

    def chunked(head: bytes, body: bytes) -> bytes:
        parts = [payload[i:i + 100] for i in range(0, len(payload), 100)]
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n")

    async with server(keepalive(chunked)) as (url, conns):
        pool = Pool(url)
        assert (await ask(pool))[1] == payload
        assert (await ask(pool))[1] == payload
        assert len(conns) == 1

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + payload)
        await writer.drain()

    async with server(until_close) as (url, conns):
        pool = Pool(url)
        assert (await ask(pool))[1] == payload
        assert (await ask(pool))[1] == payload
        assert len(conns) == 2   # not reused: the server closes each

    packed = gzip.compress(payload)
    deflated = zlib.compress(payload)
    for data, name in ((packed, "gzip"), (deflated, "deflate")):
        async with server(keepalive(lambda h, b, d=data, n=name:
                                    answer(d, f"Content-Encoding: {n}"))) as (url, _):
            pool = Pool(url)
            assert (await ask(pool))[1] == payload


async def test_error_status_and_headers_are_read():
    async with server(keepalive(lambda h, b: answer(b'{"error":{"message":"slow down"}}',
                                                    "Retry-After: 7", "X-Multi: a", "X-Multi: b",
                                                    status="429 Too Many Requests"))) as (url, _):
        status, raw, resp = await ask(Pool(url))
        assert status == 429 and b"slow down" in raw
        assert resp.headers["retry-after"] == "7"
        assert resp.headers.getall("x-multi") == ["a", "b"]


async def test_a_head_in_pieces_after_an_interim_answer_is_read_whole():
    """A 100 Continue first, then the real head split over several writes mid-line: a
    repeated name (all values kept, the first one for `get`), a value with a colon in it
    and one with spaces before it."""
    body = b'{"ok":1}'
    head = (b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Multi: a\r\n"
            b"x-multi: b\r\nX-Url: http://h:1/p\r\n"
            b"x-ratelimit-remaining-requests:  99\r\nContent-Length: %d\r\n\r\n" % len(body))

    async def pieces(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _read_request(reader)
            for i in range(0, len(head), 7):   # 7-byte writes: names and values cut
                writer.write(head[i:i + 7])
                await writer.drain()
                await asyncio.sleep(0.001)
            writer.write(body)
            await writer.drain()

    async with server(pieces) as (url, conns):
        pool = Pool(url)
        for _ in range(2):   # and again on the kept-alive connection
            status, raw, resp = await ask(pool)
            assert (status, raw) == (200, body)
            assert resp.headers.getall("x-multi") == ["a", "b"]
            assert resp.headers.get("X-MULTI") == "a"
            assert resp.headers["x-url"] == "http://h:1/p"
            assert resp.headers["x-ratelimit-remaining-requests"] == "99"
            assert "x-interim" not in resp.headers and resp.headers["content-type"] == "application/json"
        assert len(conns) == 1


async def test_a_head_without_headers_then_one_that_closes():
    async def bare(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}")
        await writer.drain()

    async with server(bare) as (url, _):
        pool = Pool(url)
        status, raw, resp = await ask(pool)
        assert (status, raw, len(resp.headers)) == (204, b"", 0)
        status, raw, resp = await ask(pool)
        assert (status, raw, dict(resp.headers)) == (200, b"{}", {"Connection": "close"})


@pytest.mark.parametrize("endless", ["headers", "value"])
async def test_an_endless_answer_head_is_refused_not_buffered(endless, monkeypatch):
    """An upstream that sends header after header (or one header without end) fails the
    exchange at once: before, every header was kept until the deadline, without bound."""
    monkeypatch.setattr(_http1, "MAX_HEAD", 16 * 1024, raising=False)
    async def endless_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        if endless == "value":
            writer.write(b"X-Long: ")
        for i in range(2000):
            writer.write(b"X-Pad-%d: %s\r\n" % (i, b"v" * 50) if endless == "headers"
                         else b"v" * 1000)
            await writer.drain()
        await asyncio.sleep(5)

    async with server(endless_head) as (url, _):
        with pytest.raises(_wire.PayloadError, match="head is over 16384 bytes"):
            await asyncio.wait_for(ask(Pool(url)), 4)


async def test_a_connection_the_server_closed_while_idle_is_not_reused():
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer(b"{}"))   # keep-alive by HTTP/1.1, then closed anyway
        await writer.drain()

    async with server(once) as (url, conns):
        pool = Pool(url)
        await ask(pool)
        await asyncio.sleep(0.05)   # the close reaches the client
        assert (await ask(pool))[0] == 200
        assert len(conns) == 2


async def test_idle_connections_past_keepalive_are_closed(monkeypatch):
    async with server(keepalive(lambda h, b: answer(b"{}"))) as (url, conns):
        pool = Pool(url)
        await ask(pool)
        monkeypatch.setattr(_http1, "KEEPALIVE", 0.0)
        await ask(pool)
        assert len(conns) == 2


async def test_idle_connections_left_behind_by_a_burst_are_closed_as_traffic_continues(monkeypatch):
    async with server(keepalive(lambda h, b: answer(b"{}"))) as (url, conns):
        pool = Pool(url)
        burst = [await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)
                 for _ in range(3)]
        for resp in burst:
            await resp.read()
            resp.release()
        assert len(pool._idle) == 3
        monkeypatch.setattr(_http1, "KEEPALIVE", 0.01)
        await asyncio.sleep(0.05)
        await ask(pool)   # reuses the newest; the two older ones are closed on its return
        assert len(pool._idle) == 1


async def test_a_cut_inside_the_body_is_a_payload_error_classified_as_stream_cut():
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n"
                     b"f\r\ndata: {\"a\":1}\n\n\r\n")   # then the connection drops
        await writer.drain()

    async with server(cut) as (url, _):
        pool = Pool(url)
        resp = await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)
        assert await resp.content.readany() == b'data: {"a":1}\n\n'
        with pytest.raises(_wire.PayloadError) as info:
            await resp.content.readany()
        resp.release()
        assert classify_exception(info.value, provider="p", phase="stream").code == "stream_cut"


async def test_closed_before_any_answer_is_a_server_disconnect():
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)

    async with server(hang_up) as (url, _):
        pool = Pool(url)
        with pytest.raises(_wire.Disconnected) as info:
            await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)
        assert classify_exception(info.value, provider="p", phase="total").code == "connection_reset"


async def test_garbage_instead_of_http_is_an_error_not_an_answer():
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with server(garbage) as (url, _):
        pool = Pool(url)
        with pytest.raises(_wire.WireError):
            await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)


async def test_connect_failures_name_host_and_port(unused_tcp_port):
    pool = Pool(f"http://127.0.0.1:{unused_tcp_port}")
    with pytest.raises(_wire.ConnectError) as info:
        await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)
    assert f"127.0.0.1:{unused_tcp_port}" in str(info.value)
    assert classify_exception(info.value, provider="p").code == "connection_refused"
    pool = Pool("http://no-such-host.invalid")
    with pytest.raises(_wire.DNSError) as dns:
        await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)
    assert classify_exception(dns.value, provider="p").code in ("dns_failure", "dns_temporary")


async def test_a_body_not_read_holds_the_socket_back(monkeypatch):
    """Flow control: past the high-water mark the socket is no longer read, so an answer
    nobody reads cannot fill the gateway's memory; reading resumes it."""
    monkeypatch.setattr(_answer, "HIGH_WATER", 64 * 1024)
    big = b"x" * (4 * 1024 * 1024)
    async with server(keepalive(lambda h, b: answer(big))) as (url, _):
        pool = Pool(url)
        resp = await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)
        await asyncio.sleep(0.2)
        assert resp.content._size < len(big) // 2   # paused well before the whole body
        assert await resp.read() == big
        resp.release()


async def test_release_callbacks_fire_once_and_an_unread_answer_closes_its_connection():
    async def slow_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"{}")
            await writer.drain()

    async with server(slow_body) as (url, conns):
        pool = Pool(url)
        resp = await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)
        fired: list[int] = []
        resp.on_release(lambda: fired.append(1))
        resp.release()   # before the body was read: the connection cannot be reused
        resp.release()
        assert fired == [1]
        await ask(pool)
        assert len(conns) == 2


async def test_http_proxy_gets_the_absolute_url_with_credentials():
    seen: list[bytes] = []

    def reply(head: bytes, body: bytes) -> bytes:
        seen.append(head)
        return answer(b"{}")

    async with server(keepalive(reply)) as (proxy, _):
        pool = Pool("http://provider.example:8080/v1",
                    proxy=proxy.replace("http://", "http://user:pa%40ss@"))
        assert (await ask(pool))[0] == 200
        lines = seen[0].decode().split("\r\n")
        assert lines[0] == "POST http://provider.example:8080/v1/chat/completions HTTP/1.1"
        assert "Host: provider.example:8080" in lines
        assert "Proxy-Authorization: Basic dXNlcjpwYUBzcw==" in lines   # user:pa@ss


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl could not make a test certificate: {exc}")
    return key, cert


def _server_ctx(certs: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certs[1]), str(certs[0]))
    return ctx


async def test_tls_verified_against_the_trust_store(certs, monkeypatch):
    async with server(keepalive(lambda h, b: answer(b'{"tls":1}')), _server_ctx(certs)) as (url, _):
        pool = Pool(url)
        with pytest.raises(_wire.CertificateError) as info:   # not trusted
            await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)
        assert classify_exception(info.value, provider="p").code == "tls_error"
        trusting = ssl.create_default_context(cafile=str(certs[1]))
        monkeypatch.setattr(_http1, "_TLS", trusting)
        assert (await ask(Pool(url)))[1] == b'{"tls":1}'


async def test_https_through_a_connect_tunnel(certs, monkeypatch):
    tls_server = _server_ctx(certs)
    monkeypatch.setattr(_http1, "_TLS", ssl.create_default_context(cafile=str(certs[1])))
    connects: list[bytes] = []

    async with server(keepalive(lambda h, b: answer(b'{"via":"tunnel"}')), tls_server) as (url, _):
        port = int(url.rsplit(":", 1)[1])

        async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            connects.append(head)
            up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

            async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
                w.close()

            try:
                await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
            finally:
                up_w.close()

        async with server(tunnel) as (proxy, _):
            pool = Pool(url + "/v1", proxy=proxy)
            assert (await ask(pool))[1] == b'{"via":"tunnel"}'
            assert (await ask(pool))[1] == b'{"via":"tunnel"}'   # the tunnel is kept alive
            assert len(connects) == 1
            assert connects[0].startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.1".encode())


async def test_a_proxy_that_refuses_connect_is_a_proxy_error(unused_tcp_port):
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with server(refuse) as (proxy, _):
        pool = Pool("https://provider.example/v1", proxy=proxy)
        with pytest.raises(_wire.ProxyError) as info:
            await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)
        assert "403" in str(info.value)
        assert classify_exception(info.value, provider="p").code == "proxy_error"
    pool = Pool("https://provider.example/v1", proxy=f"http://127.0.0.1:{unused_tcp_port}")
    with pytest.raises(_wire.ProxyError):
        await pool.request("POST", "/", b"{}", static=pool.static({}), connect_timeout=5)


async def test_a_tls_provider_end_to_end_through_the_gateway(certs, monkeypatch):
    """The official client, the gateway and a simulated provider serving HTTPS: answers and
    streams over TLS; a provider whose certificate is not trusted is a tls_error and the
    chain falls over to the next one."""
    from gateway_harness import CHAT, eventually, gateway_running
    from openai import AsyncOpenAI

    from provider_fallback import config_from_dict
    from provider_fallback.sim import SimProvider

    async with SimProvider("secure", models=["m"], ssl_context=_server_ctx(certs)) as secure, \
            SimProvider("plain", models=["m"]) as plain:
        assert secure.url.startswith("https://")
        cfg = config_from_dict({
            "providers": [{"name": "secure", "base_url": secure.url},
                          {"name": "plain", "base_url": plain.url}],
            "models": {"chat": ["secure/m", "plain/m"]}, "health": {"enabled": False}},
            environ={})
        # untrusted: the handshake fails, the answer comes from the next provider
        async with gateway_running(cfg) as gw, \
                AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0) as client:
            records: list = []
            gw.router.requests.add(records.append)
            answer = await client.chat.completions.create(model="chat", **CHAT)
            assert answer.model == "m" and secure.count() == 0 and plain.count() == 1
            await eventually(lambda: bool(records))
            (failed, served) = records[0].attempts
            assert (failed.provider, failed.code) == ("secure", "tls_error")
            assert served.provider == "plain"
        monkeypatch.setattr(_http1, "_TLS", ssl.create_default_context(cafile=str(certs[1])))
        async with gateway_running(cfg) as gw, \
                AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0) as client:
            answer = await client.chat.completions.create(model="chat", **CHAT)
            assert answer.choices[0].message.content and secure.count() == 1
            stream = await client.chat.completions.create(model="chat", stream=True, **CHAT)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text == answer.choices[0].message.content and secure.count() == 2


async def test_a_deadline_bounds_the_head_then_the_body_and_closes_the_connection():
    """`deadline` is one timer on the connection: a head that never comes, or (`whole`) a
    body that stops half-way, fails with TimeoutError at the deadline and the connection
    is not reused; a head-only deadline (a stream's) ends when the head arrives."""
    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await _read_request(reader)
            if b"/silent" in head:
                await reader.read()   # nothing, until the client gives up
                return
            # the head and half the body, then nothing
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
            await writer.drain()
            if b"/finish" in head:
                await asyncio.sleep(0.3)
                writer.write(b"67890")
                await writer.drain()

    async with server(stalls) as (url, conns):
        pool = Pool(url)
        loop = asyncio.get_running_loop()
        static = pool.static({})
        t0 = loop.time()
        with pytest.raises(TimeoutError):
            await pool.request("POST", "/silent", b"{}", static=static, connect_timeout=5,
                               deadline=loop.time() + 0.2)
        assert 0.15 < loop.time() - t0 < 2

        resp = await pool.request("POST", "/half", b"{}", static=static, connect_timeout=5,
                                  deadline=loop.time() + 0.2)
        assert resp.status == 200   # the head came in time: the body is what is late
        with pytest.raises(TimeoutError):
            await resp.read()
        resp.release()
        assert not pool._idle   # a timed-out exchange's connection is closed, not pooled

        # the deadline for the head only: a body slower than it is not cut
        resp = await pool.request("POST", "/finish", b"{}", static=static, connect_timeout=5,
                                  deadline=loop.time() + 0.1, whole=False)
        assert await resp.read() == b"1234567890"
        resp.release()
        # ... and a whole exchange done before its deadline leaves no timer behind
        resp = await pool.request("POST", "/finish", b"{}", static=static, connect_timeout=5,
                                  deadline=loop.time() + 5)
        assert await resp.read() == b"1234567890"
        resp.release()
        assert pool._idle and pool._idle[-1]._timer is None
        assert len(conns) == 3   # each timed-out exchange cost its connection; then reuse
