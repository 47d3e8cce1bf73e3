"""The front door's writes: a response head leaves with the first body write (one send, not
two), and is never held past the loop step that wrote it."""

from __future__ import annotations

import asyncio

from provider_fallback.server._protocol import _GuardedTransport


class _Recorder:
    """Stands in for the socket transport under the front door: records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed


class _Protocol:
    def __init__(self) -> None:
        self.close_requests = 0

    def _close_requested(self) -> None:
        self.close_requests += 1


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"


async def test_the_head_leaves_with_the_first_body_write():
    real, proto = _Recorder(), _Protocol()
    t = _GuardedTransport(real, proto, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(HEAD)
    assert real.writes == []
    t.write(b"{}")
    assert real.writes == [HEAD + b"{}"]
    t.write(b"more")
    assert real.writes == [HEAD + b"{}", b"more"]


async def test_a_head_without_a_body_write_is_sent_at_the_end_of_the_step():
    real, proto = _Recorder(), _Protocol()
    t = _GuardedTransport(real, proto, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(HEAD)
    await asyncio.sleep(0)
    assert real.writes == [HEAD]


async def test_close_sends_a_held_head_first():
    real, proto = _Recorder(), _Protocol()
    t = _GuardedTransport(real, proto, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(HEAD)
    t.close()
    assert real.writes == [HEAD] and proto.close_requests == 1
