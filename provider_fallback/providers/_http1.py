"""HTTP/1.1 to one provider: a keep-alive connection pool on httptools' parser.

The request path's upstream client. aiohttp's `ClientSession.request` builds a request
object, a cookie view, timers, a response object and several coroutine frames for every
call: measured on loopback (32 concurrent POSTs, one core), ~85-95 µs of CPU a request
against ~25-30 µs for a protocol that writes one pre-built head and lets httptools
(llhttp, the parser uvicorn uses) read the answer. The gateway's pool is already bounded
in front of this (`routing/_gate.py`: one slot per connection), so the pool here never
waits: it hands out an idle connection or opens one.

What it speaks: HTTP/1.1 keep-alive over TCP or TLS (the system's default certificate
store, SNI, hostname checks), bodies by Content-Length, chunked or until close, gzip and
deflate answers decoded, and an HTTP(S)_PROXY (plain requests in absolute form for http,
a CONNECT tunnel for https, Basic proxy credentials from the proxy URL). Failures are
raised as `errors/_wire.py`'s classes, which the registry's classifier reads
(`errors/_transport.py`): `ConnectError` and its `DNSError`, `TLSError`,
`CertificateError` and `ProxyError` (each wrapping the OSError, `ssl` error or
`socket.gaierror` underneath), `ConnectTimeout`, `Disconnected` (the connection closed
before the answer began) and `PayloadError` (closed inside the body, or not HTTP).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import time
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from .._deadlines import Deadline, deadlines
from .._loop import running_loop
from .._version import __version__
from ..errors import _wire
from ._answer import Body, Response

__all__ = ["Body", "Pool", "Response"]   # Body and Response: from _answer.py

_USER_AGENT = f"User-Agent: provider-fallback/{__version__}\r\n"
KEEPALIVE = 30.0           # an idle connection older than this is closed, not reused
_NO_BODY_STATUS = frozenset({204, 304})


def _tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


_TLS: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """One TLS context for every provider (loading the certificate store costs ~ms)."""
    global _TLS
    if _TLS is None:
        _TLS = _tls_context()
    return _TLS


def _happy_eyeballs(loop: asyncio.AbstractEventLoop) -> dict[str, float]:
    """Happy Eyeballs (RFC 8305: a host with IPv6 and IPv4 addresses tried side by side,
    the next after 250 ms) where the loop has it: asyncio's does, uvloop's does not (it
    refuses the keyword), so there the addresses are tried one after another."""
    return {"happy_eyeballs_delay": 0.25} if isinstance(loop, asyncio.BaseEventLoop) else {}


def _decoder(encoding: str | None) -> Any:
    if not encoding:
        return None
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)   # gzip or zlib header
    return None


# an answer's head past this is refused, not buffered: httptools bounds neither the
# number nor the size of headers, and a broken or hostile upstream could otherwise grow
# the gateway's memory until the exchange's deadline
MAX_HEAD = 256 * 1024


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._headers: list[tuple[str, str]] = []
        self._head_size = 0        # bytes of a head not ended yet
        self._answer: asyncio.Future[Response] | None = None
        self._resp: Response | None = None
        self._body: Body | None = None
        self._decoder: Any = None
        self._pieces: list[bytes] = []
        self._until_close = False
        self.complete = True       # no exchange in progress
        self.reusable = True
        self.idle_since = 0.0
        self._paused = False
        self._url = ""
        self._timer: Deadline | None = None
        self._timer_whole = True

    # -- the pool's side ------------------------------------------------------------
    def send(self, data: bytes, url: str, deadline: float | None = None,
             whole: bool = True) -> asyncio.Future[Response]:
        """Write one request; the future of its answer's head. `deadline` (loop time): past
        it, the exchange fails with TimeoutError, the answer's head not yet there or
        (`whole`) its body not read to the end, and the connection is closed. One timer
        on the connection (a coarse one, `_deadlines.py`), not a timeout scope around the
        caller's awaits."""
        assert self.transport is not None
        loop = running_loop()
        self._answer = answer = loop.create_future()
        self._url = url
        self.complete = False
        self._headers = []
        self._head_size = 0
        if deadline is not None:
            self._timer = deadlines(loop).call_at(deadline, self._expired)
            self._timer_whole = whole
        self.transport.write(data)
        return answer

    def _expired(self) -> None:
        self._timer = None
        if not self.complete:
            self._fail(TimeoutError("the provider's answer did not arrive in time"))

    def _stop_timer(self) -> None:   # (callers check that there is one)
        self._timer.cancel()   # type: ignore[union-attr]
        self._timer = None

    def done_with(self, resp: Response) -> None:
        """The caller released `resp`: back to the pool if it was read to its end."""
        self._resp = None
        if self.complete and self.reusable and self.transport is not None \
                and not self.transport.is_closing():
            self.idle_since = time.monotonic()
            self._pool.put(self)
        else:
            self.close()

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    # -- asyncio's side ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport   # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.complete:   # bytes nobody asked for: this connection is not to be trusted
            self.close()
            return
        try:
            self._parser.feed_data(data)
            pieces = self._pieces
            if pieces:   # what the block brought of the body, handed over in one piece
                self._pieces = []
                self._deliver(pieces[0] if len(pieces) == 1 else b"".join(pieces))
            elif self._answer is not None:   # the head has not ended yet: all head bytes
                self._head_size += len(data)
                if self._head_size > MAX_HEAD:   # httptools buffers it without bound
                    self._fail(_wire.PayloadError(
                        f"the provider's answer head is over {MAX_HEAD} bytes"))
        except httptools.HttpParserUpgrade:
            self._fail(_wire.PayloadError("the provider switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(_wire.PayloadError(f"malformed HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._pool.lost(self)
        if self.complete:
            return
        if self._body is not None and self._until_close and exc is None:
            self._finish()
            return
        if self._answer is not None and not self._answer.done():
            err: Exception = exc if isinstance(exc, OSError) else \
                _wire.Disconnected("the provider closed the connection")
        else:
            err = _wire.PayloadError("the provider closed the connection inside the "
                                     "answer (Response payload is not completed)")
            err.__cause__ = exc
        self._fail(err)

    def _fail(self, exc: Exception) -> None:
        if self._timer is not None:
            self._stop_timer()
        self.reusable = False
        self.complete = True
        self._pieces = []
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(exc)
        elif self._body is not None:
            self._body.set_exception(exc)
        self._body = None
        if self.transport is not None:
            self.transport.close()

    # -- httptools' callbacks ---------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:   # an interim answer (100 Continue): the real one follows
            self._headers = []
            return
        if self._timer is not None and not self._timer_whole:
            self._stop_timer()   # the deadline was for the head only (a stream's)
        headers = CIMultiDictProxy(CIMultiDict(self._headers))
        self._decoder = _decoder(headers.get("Content-Encoding"))
        self._until_close = ("Content-Length" not in headers
                             and "chunked" not in headers.get("Transfer-Encoding", "").lower()
                             and status not in _NO_BODY_STATUS)
        if not self._parser.should_keep_alive():
            self.reusable = False
        resp = Response(self, status, headers, self._url)
        self._resp = resp
        self._body = resp.content
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_result(resp)
        else:   # the caller gave up waiting: nobody reads this answer
            self.reusable = False

    def on_body(self, body: bytes) -> None:
        # one call per HTTP chunk (a provider often sends each SSE event as its own):
        # kept until the parser is done with the block, then delivered together
        self._pieces.append(body)

    def _deliver(self, body: bytes) -> None:
        if self._body is None:
            return
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except zlib.error as exc:
                self._fail(_wire.PayloadError(f"cannot decode the answer: {exc}"))
                return
            if not body:
                return
        self._body.feed_data(body)

    def on_message_complete(self) -> None:
        if self._body is not None:   # else an interim 1xx answer, or a failed exchange
            self._finish()

    def _finish(self) -> None:
        if self._timer is not None:
            self._stop_timer()
        pieces = self._pieces
        if pieces:   # the body's last pieces came in the block that completed it
            self._pieces = []
            self._deliver(b"".join(pieces))
        body, self._body = self._body, None
        if body is not None:
            if self._decoder is not None:
                tail = self._decoder.flush()
                if tail:
                    body.feed_data(tail)
            body.feed_eof()
        self._decoder = None
        self.complete = True
        if self._resp is None:   # released (or dropped) before its end: not reusable
            self.close()


class _Tunnel(asyncio.Protocol):
    """The proxy's answer to CONNECT, then nothing: TLS takes the transport over."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[int] = running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self.answer.done():
                self.answer.set_exception(OSError(0, f"malformed answer to CONNECT: {exc}"))

    def on_headers_complete(self) -> None:
        if not self.answer.done():
            self.answer.set_result(self._parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc or OSError(0, "the proxy closed the connection"))


class Pool:
    """Keep-alive connections to one origin (`base_url`'s scheme, host and port)."""

    def __init__(self, base_url: str, proxy: str | None = None, *,
                 keepalive: bool = True) -> None:
        parts = urlsplit(base_url)
        self.keepalive = keepalive   # False: every request on a connection of its own
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.tls else 80)
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if self.port == default else f"{host}:{self.port}"
        self.origin = f"{parts.scheme}://{self.authority}"
        self.proxy_url = proxy
        self.proxy = urlsplit(proxy) if proxy else None
        # a plain request through a proxy names the whole URL; through a CONNECT tunnel
        # (https) or without a proxy, the path
        self._absolute = self.proxy is not None and not self.tls
        self._proxy_auth = (_proxy_auth(self.proxy) if self._absolute and self.proxy is not None
                            and self.proxy.username else "")
        # what a proxy's connect errors name
        self._proxy_at = (self.proxy.hostname or "", self.proxy.port or 0) if self.proxy \
            else (self.host, self.port)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self.closed = False

    def static(self, headers: Mapping[str, str]) -> bytes:
        """The header lines every request with these `headers` sends (build once, reuse)."""
        lines = [f"Host: {self.authority}\r\n"]
        names = {k.lower() for k in headers}
        lines += [f"{k}: {v}\r\n" for k, v in headers.items()]
        if "accept" not in names:
            lines.append("Accept: */*\r\n")
        if "accept-encoding" not in names:
            lines.append("Accept-Encoding: gzip, deflate\r\n")
        if "user-agent" not in names:   # some providers' front ends refuse a request without one
            lines.append(_USER_AGENT)
        return ("".join(lines) + self._proxy_auth).encode("latin-1")

    # -- connections -----------------------------------------------------------------
    def put(self, conn: _Connection) -> None:
        if self.closed or not self.keepalive:
            conn.close()
            return
        idle = self._idle
        # the oldest idle connection is at the bottom (the newest is reused first): close
        # those past the keep-alive time as traffic comes by
        while idle and conn.idle_since - idle[0].idle_since >= KEEPALIVE:
            idle.pop(0).close()
        idle.append(conn)

    def lost(self, conn: _Connection) -> None:
        self._open.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)

    def _reuse(self) -> _Connection | None:
        """An idle connection still fit to use (the ones that are not are closed), or None."""
        now = time.monotonic()
        idle = self._idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if conn.reusable and transport is not None and not transport.is_closing() \
                    and now - conn.idle_since < KEEPALIVE:
                return conn
            conn.close()
        return None

    async def _connection(self, connect_timeout: float | None) -> _Connection:
        conn = self._reuse()
        if conn is not None:
            return conn
        try:
            async with asyncio.timeout(connect_timeout):
                return await self._connect()
        except TimeoutError:
            raise _wire.ConnectTimeout(
                f"connecting to {self.authority} took over {connect_timeout:g}s") from None

    async def _connect(self) -> _Connection:
        loop = running_loop()
        conn = _Connection(self)
        if self.proxy is None:
            try:
                await loop.create_connection(
                    lambda: conn, self.host, self.port, ssl=tls_context() if self.tls else None,
                    server_hostname=self.host if self.tls else None, **_happy_eyeballs(loop))
            except ssl.CertificateError as exc:
                raise _wire.CertificateError(self.host, self.port, exc) from exc
            except ssl.SSLError as exc:
                raise _wire.TLSError(self.host, self.port, exc) from exc
            except socket.gaierror as exc:
                raise _wire.DNSError(self.host, self.port, exc) from exc
            except OSError as exc:
                raise _wire.ConnectError(self.host, self.port, exc) from exc
        else:
            await self._via_proxy(loop, conn)
        self._open.add(conn)
        return conn

    async def _via_proxy(self, loop: asyncio.AbstractEventLoop, conn: _Connection) -> None:
        proxy = self.proxy
        assert proxy is not None
        phost = proxy.hostname or ""
        pport = proxy.port or (443 if proxy.scheme == "https" else 80)
        pssl = tls_context() if proxy.scheme == "https" else None
        try:
            if not self.tls:
                await loop.create_connection(lambda: conn, phost, pport, ssl=pssl,
                                             server_hostname=phost if pssl else None)
                return
            transport, tunnel = await loop.create_connection(
                _Tunnel, phost, pport, ssl=pssl, server_hostname=phost if pssl else None)
        except (OSError, ssl.SSLError) as exc:
            raise _wire.ProxyError(*self._proxy_at, exc) from exc
        auth = _proxy_auth(proxy) if proxy.username else ""
        transport.write((f"CONNECT {self.host}:{self.port} HTTP/1.1\r\n"
                         f"Host: {self.host}:{self.port}\r\n{auth}\r\n").encode("latin-1"))
        try:
            status = await tunnel.answer
        except OSError as exc:
            transport.close()
            raise _wire.ProxyError(*self._proxy_at, exc) from exc
        except BaseException:
            transport.close()
            raise
        if status != 200:
            transport.close()
            raise _wire.ProxyError(*self._proxy_at, OSError(
                0, f"the proxy answered {status} to CONNECT {self.host}:{self.port}"))
        try:
            tls = await loop.start_tls(transport, conn, tls_context(), server_hostname=self.host)
        except ssl.CertificateError as exc:
            transport.close()
            raise _wire.CertificateError(self.host, self.port, exc) from exc
        except ssl.SSLError as exc:
            transport.close()
            raise _wire.TLSError(self.host, self.port, exc) from exc
        if tls is None:
            raise _wire.ProxyError(*self._proxy_at, OSError(0, "TLS through the proxy failed"))
        conn.connection_made(tls)

    # -- requests ----------------------------------------------------------------------
    async def request(self, method: str, path: str, body: bytes, *, static: bytes,
                      connect_timeout: float | None, deadline: float | None = None,
                      whole: bool = True) -> Response:
        """Send one request (`static`: its header lines, from `static()`); the answer once
        its status and headers arrived. `deadline` (loop time) bounds the connect, the wait
        for the head and (`whole`) the body's reading: past it, TimeoutError."""
        if self.closed:
            raise _wire.Closing("the gateway is shutting down")
        conn = self._reuse()   # the usual case, without a coroutine of its own
        if conn is None:
            if deadline is not None:
                # a new connection: its connect is bounded by what is left too
                left = max(0.001, deadline - running_loop().time())
                connect_timeout = left if connect_timeout is None else min(connect_timeout, left)
            conn = await self._connection(connect_timeout)
        target = self.origin + path if self._absolute else path
        answer = conn.send(b"%s %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (
            method.encode(), target.encode("utf-8"), static, len(body), body), self.origin + path,
            deadline, whole)
        try:
            return await answer
        except BaseException:
            conn.close()
            raise

    async def aclose(self) -> None:
        self.closed = True
        for conn in [*self._idle, *self._open]:
            conn.close()
        self._idle.clear()
        self._open.clear()


def basic_credentials(url: Any) -> str:
    """`Basic ...` for the user and password of a split URL (a proxy's, a webhook's)."""
    creds = f"{unquote(url.username or '')}:{unquote(url.password or '')}"
    return f"Basic {base64.b64encode(creds.encode()).decode()}"


def _proxy_auth(proxy: Any) -> str:
    return f"Proxy-Authorization: {basic_credentials(proxy)}\r\n"
