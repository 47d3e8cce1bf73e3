"""Server-sent events from an upstream: read in blocks, split in one pass, one watchdog.

The body is read as it arrives (`readany`: everything buffered, in one call) and split into
events by `SSEParser`, which carries the partial tail to the next block. Timing is one
`Watchdog` per stream, not a timeout scope per chunk: a timestamp updated per block and one
timer that checks it, which fails the read by setting an exception on the body reader
(a coarse deadline: `_deadlines.py`, not a loop timer of its own).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from .._deadlines import Deadline, deadlines
from .._loop import running_loop

__all__ = ["DONE", "SSEParser", "Watchdog", "WatchdogExpired", "iter_sse_data", "read_events"]

DONE = b"[DONE]"
_SEP = b"\n\n"


class SSEParser:
    """Incremental SSE splitter: `feed(block)` returns the `data` payload of every event
    completed by `block` (bytes without the `data:` prefix; `[DONE]` included).

    Comment lines (`: keep-alive`, OpenRouter's `: OPENROUTER PROCESSING`) and the `event`,
    `id` and `retry` fields are dropped; multi-line data is joined with `\\n`; CRLF and CR
    line ends are accepted.
    """

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, block: bytes) -> list[bytes]:
        buf = self._tail + block if self._tail else block
        # the usual block: single-line `data: ` events only, split in three C calls
        end = buf.rfind(_SEP)
        if end >= 0 and buf[:6] == b"data: " and b"\r" not in buf:
            parts = buf[6:end].split(b"\n\ndata: ")
            if buf.count(b"\n", 0, end) == 2 * (len(parts) - 1):
                self._tail = buf[end + 2:]
                return parts
        if b"\r" in buf:
            if buf.endswith(b"\r"):   # its \n may come in the next block
                buf, keep = buf[:-1], b"\r"
            else:
                keep = b""
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            keep = b""
        parts = buf.split(_SEP)
        self._tail = parts.pop() + keep
        out: list[bytes] = []
        for part in parts:
            if part[:6] == b"data: " and b"\n" not in part:   # the common case
                out.append(part[6:])
            elif part:
                data = _data_of(part)
                if data is not None:
                    out.append(data)
        return out

    def close(self) -> list[bytes]:
        """At EOF: the last event if the stream ended without its blank line."""
        tail, self._tail = self._tail.replace(b"\r", b""), b""
        data = _data_of(tail.strip(b"\n")) if tail.strip() else None
        return [] if data is None else [data]


def _data_of(part: bytes) -> bytes | None:
    lines: list[bytes] = []
    for line in part.split(b"\n"):
        if line[:5] == b"data:":
            payload = line[5:]
            lines.append(payload[1:] if payload[:1] == b" " else payload)
        # ":" comments, "event:", "id:", "retry:" are not relayed
    return b"\n".join(lines) if lines else None


class WatchdogExpired(Exception):
    """Raised from the body read when the watchdog fired: `kind` is "ttft" or "stall"
    (`at`: the loop time of the TTFT deadline, or the stall timeout in seconds)."""

    def __init__(self, kind: str, at: float) -> None:
        super().__init__(f"{kind} timer expired")
        self.kind = kind
        self.at = at


class Watchdog:
    """The one timer of a stream. Until `content()` is called only the time-to-first-token
    deadline counts; after it only the stall timer (`stall` seconds without a block).

    `touch()` is a timestamp update (per block); the timer re-arms itself at most once per
    `stall` seconds, so the per-chunk cost is one float store.
    """

    __slots__ = ("_content", "_deadlines", "_handle", "_loop", "_reader", "_stall", "_ttft_at",
                 "expired", "last")

    def __init__(self, reader: Any, *, ttft_at: float, stall: float,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or running_loop()
        self._reader = reader
        self._stall = stall
        self._ttft_at = ttft_at
        self._content = False
        self.expired: WatchdogExpired | None = None
        self.last = self._loop.time()
        self._deadlines = deadlines(self._loop)
        # one deadline for both timers: at the time to first token, or a stall timeout
        # from now if that is sooner, so the first content (usually within the
        # same read as the stream's end) need not move it; `_check` re-arms it
        self._handle: Deadline | None = self._deadlines.call_at(
            min(ttft_at, self.last + stall), self._check)

    def touch(self) -> None:
        self.last = self._loop.time()

    def content(self) -> None:
        """The first content arrived: from now on only the stall timer runs."""
        if self._content:
            return
        self._content = True
        self.last = self._loop.time()   # the armed deadline is no later than last + stall

    def _check(self) -> None:
        self._handle = None
        now = self._loop.time()
        if self._content:
            due = self.last + self._stall
            if now < due:
                self._handle = self._deadlines.call_at(due, self._check)
                return
            self.expired = WatchdogExpired("stall", self._stall)
        elif now < self._ttft_at:   # armed at a stall timeout, sooner than the first token's
            self._handle = self._deadlines.call_at(self._ttft_at, self._check)
            return
        else:
            self.expired = WatchdogExpired("ttft", self._ttft_at)
        self._reader.set_exception(self.expired)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class EventReader:
    """The data payloads of each block as it arrives: `await next()` gives a block's
    (a list, never empty), None at the end. A plain object, not an async generator: a
    generator left suspended when its stream ends early (at `[DONE]`, before EOF) is
    finalised through the loop's thread-safe queue, one self-pipe write and one task per
    stream."""

    __slots__ = ("_content", "_done", "_parser", "_watchdog")

    def __init__(self, content: Any, watchdog: Watchdog | None = None) -> None:
        self._content = content
        self._watchdog = watchdog
        self._parser = SSEParser()
        self._done = False

    async def next(self) -> list[bytes] | None:
        parser = self._parser
        while not self._done:
            block = await self._content.readany()
            if not block:
                self._done = True
                return parser.close() or None
            if self._watchdog is not None:
                self._watchdog.touch()
            events = parser.feed(block)
            if events:
                return events
        return None


async def read_events(content: Any, watchdog: Watchdog | None = None) -> AsyncIterator[list[bytes]]:
    """Yield the data payloads of each block as it arrives (a list per block, never empty)."""
    reader = EventReader(content, watchdog)
    while (events := await reader.next()) is not None:
        yield events


async def iter_sse_data(content: Any, stall_timeout: float) -> AsyncIterator[bytes]:
    """Each event's `data` payload with a stall timeout: for readers outside the router
    (probes, tests) that want one event at a time."""
    loop = running_loop()
    dog = Watchdog(content, ttft_at=loop.time() + stall_timeout, stall=stall_timeout, loop=loop)
    dog.content()
    try:
        async for events in read_events(content, dog):
            for data in events:
                yield data
    except WatchdogExpired:
        raise TimeoutError(f"no stream data for {stall_timeout:g}s") from None
    finally:
        dog.cancel()
