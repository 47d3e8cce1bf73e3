"""The block SSE parser: any split of the byte stream gives the same events, in one pass."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from provider_fallback.providers import SSEParser, Watchdog, WatchdogExpired, read_events

STREAM = (b": OPENROUTER PROCESSING\n\n"
          b"data: {\"a\":1}\n\n"
          b"event: message\nid: 7\ndata: {\"b\":\ndata: 2}\n\n"
          b"retry: 100\n\n"
          b"data: {\"c\":3}\r\n\r\n"
          b"data:{\"d\":4}\n\n"
          b"data: [DONE]\n\n")
EXPECTED = [b'{"a":1}', b'{"b":\n2}', b'{"c":3}', b'{"d":4}', b"[DONE]"]


def _parse(blocks: list[bytes]) -> list[bytes]:
    parser = SSEParser()
    out: list[bytes] = []
    for block in blocks:
        out += parser.feed(block)
    return out + parser.close()


def test_fields_comments_and_line_ends():
    assert _parse([STREAM]) == EXPECTED


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_gives_the_same_events(cuts):
    points = sorted(set(cuts))
    blocks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert _parse(blocks) == _parse([STREAM])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\r\n"), max_size=20),
                min_size=1, max_size=8),
       st.sampled_from([b"\n", b"\r\n", b"\r"]), st.data())
def test_every_line_ending_and_split(payloads, eol, data):
    raw = b"".join(b"data: " + p.encode() + eol + eol for p in payloads)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=6))
    points = sorted(set(cuts))
    blocks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert _parse(blocks) == [p.encode() for p in payloads]


def test_last_event_without_blank_line_is_kept_at_eof():
    assert _parse([b"data: {\"x\":1}\n\ndata: {\"y\":2}"]) == [b'{"x":1}', b'{"y":2}']


@contextlib.asynccontextmanager
async def _reader(chunks: list[tuple[float, bytes]]) -> AsyncIterator[aiohttp.StreamReader]:
    """The body of a real HTTP response over loopback, written as `(delay, bytes)` pieces."""
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for delay, data in chunks:
            await asyncio.sleep(delay)
            await resp.write(data)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as r:
            yield r.content
    finally:
        await runner.cleanup()


async def test_read_events_yields_a_batch_per_block():
    async with _reader([(0, b"data: 1\n\ndata: 2\n\n"), (0.01, b"data: 3\n\n")]) as reader:
        batches = [b async for b in read_events(reader)]
        assert [e for b in batches for e in b] == [b"1", b"2", b"3"]
        assert any(len(b) > 1 for b in batches)   # one block, one batch of two events


async def test_watchdog_stall_fails_the_read_after_content():
    async with _reader([(0, b"data: 1\n\n"), (0.5, b"data: 2\n\n")]) as reader:
        loop = asyncio.get_running_loop()
        dog = Watchdog(reader, ttft_at=loop.time() + 5, stall=0.05, loop=loop)
        dog.content()
        got = []
        try:
            async for batch in read_events(reader, dog):
                got += batch
        except WatchdogExpired as exc:
            assert exc.kind == "stall"
        else:
            raise AssertionError("no stall")
        assert got == [b"1"]
        dog.cancel()


async def test_watchdog_before_content_only_the_ttft_deadline_runs():
    # blocks keep arriving every 30 ms (faster than the 50 ms stall) but none is content:
    # only the time-to-first-token deadline (150 ms) may end it, and it does
    async with _reader([(0.03, b": ping\n\n")] * 20) as reader:
        loop = asyncio.get_running_loop()
        start = loop.time()
        dog = Watchdog(reader, ttft_at=start + 0.15, stall=0.05, loop=loop)
        try:
            async for _ in read_events(reader, dog):
                pass
        except WatchdogExpired as exc:
            assert exc.kind == "ttft"
            assert loop.time() - start >= 0.14
        else:
            raise AssertionError("no ttft expiry")
        dog.cancel()


async def test_watchdog_one_deadline_serves_both_timers():
    # one deadline per stream, armed at the sooner of the two: here the time to first
    # token (30 ms, shorter than the 200 ms stall). Content came first, so when it fires
    # it only moves on to the stall check; blocks 60 ms apart never stall the stream.
    async with _reader([(0, b"data: 1\n\n")] + [(0.06, b"data: 2\n\n")] * 5) as reader:
        loop = asyncio.get_running_loop()
        dog = Watchdog(reader, ttft_at=loop.time() + 0.03, stall=0.2, loop=loop)
        dog.content()
        got = [e async for batch in read_events(reader, dog) for e in batch]
        assert got == [b"1"] + [b"2"] * 5 and dog.expired is None
        dog.cancel()
