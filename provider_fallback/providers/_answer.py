"""An upstream answer as it arrives: its status and headers, and a body read as it comes
(`Body`), with flow control back to the connection that feeds it (`providers/_http1.py`)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

from multidict import CIMultiDictProxy

from .._loop import running_loop

__all__ = ["Body", "Feeder", "Response"]

HIGH_WATER = 256 * 1024   # unread body bytes past which the socket stops being read


class Feeder(Protocol):
    """The connection behind an answer."""

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def done_with(self, resp: Response) -> None: ...
    def close(self) -> None: ...


class Body:
    """An answer's body as it arrives: `readany()` gives what is buffered (or waits for
    more; b"" at the end), `read()` all of it. `set_exception` makes the next read raise
    (the stream watchdog uses it)."""

    __slots__ = ("_buf", "_conn", "_eof", "_exc", "_size", "_waiter")

    def __init__(self, conn: Feeder | None) -> None:
        self._buf: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._conn = conn

    def feed_data(self, data: bytes) -> None:
        self._buf.append(data)
        self._size += len(data)
        if self._size > HIGH_WATER and self._conn is not None:
            self._conn.pause()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        self._exc = exc
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def at_eof(self) -> bool:
        return self._eof and not self._buf

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        if self._exc is not None:
            raise self._exc
        self._waiter = waiter = running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _take(self) -> bytes:
        buf = self._buf
        data = buf.popleft() if len(buf) == 1 else b"".join(buf)
        buf.clear()
        self._size = 0
        if self._conn is not None:
            self._conn.resume()
        return data

    async def readany(self) -> bytes:
        while True:
            if self._exc is not None:
                raise self._exc
            if self._buf:
                return self._take()
            if self._eof:
                return b""
            await self._wait()

    async def read(self, n: int = -1) -> bytes:
        """All of the body (n < 0), or at most n bytes of it (for error bodies)."""
        parts: list[bytes] = []
        got = 0
        while n < 0 or got < n:
            block = await self.readany()
            if not block:
                break
            parts.append(block)
            got += len(block)
        data = b"".join(parts)
        if 0 <= n < len(data):
            data = data[:n]
        return data


class Response:
    """Status, headers and body of one answer; `release()` when done with it (the
    connection goes back to the pool once the whole body was read, else it is closed)."""

    __slots__ = ("_callbacks", "_conn", "content", "headers", "status", "url")

    def __init__(self, conn: Feeder, status: int, headers: CIMultiDictProxy[str],
                 url: str) -> None:
        self._conn: Feeder | None = conn
        self.status = status
        self.headers = headers
        self.url = url
        self.content = Body(conn)
        self._callbacks: list[Callable[[], None]] | None = None

    async def read(self) -> bytes:
        return await self.content.read()

    def on_release(self, callback: Callable[[], None]) -> None:
        """Call `callback` once, when this answer's connection is released or closed."""
        if self._conn is None:
            callback()
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.done_with(self)
        self._fire()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._fire()

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def _fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, None
        for cb in callbacks or ():
            cb()

    def __del__(self) -> None:   # dropped unreleased: its connection is not reusable
        if self._conn is not None:
            self.close()
