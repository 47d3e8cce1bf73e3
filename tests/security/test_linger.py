"""An early answer (413, 401) reaches a client that is still sending its body, and the rest
of the body is drained for a bounded time and size only (a lingering close)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

from front_door import front_door, parse, port_of


def _post(url: str, size: int, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=b"x" * size,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_a_client_still_writing_reads_the_413():
    # urllib sends the whole body before it reads: without a lingering close the 413 was
    # lost in a connection reset
    async with front_door({"max_body_size": "1MiB"}) as (gw, _):
        status, body = await asyncio.to_thread(_post, gw.url + "/chat/completions",
                                               8 * 1024 * 1024)
        assert status == 413 and b"request_too_large" in body and b"server.max_body_size" in body


async def test_a_client_still_writing_reads_the_401():
    async with front_door({"master_key": "os.environ/PF_MASTER"},
                          environ={"PF_MASTER": "front-door-master-key-0123"}) as (gw, _):
        status, body = await asyncio.to_thread(_post, gw.url + "/chat/completions",
                                               4 * 1024 * 1024)
        assert status == 401 and b"unauthorized" in body


async def test_the_rest_of_a_refused_body_is_drained_only_so_far():
    declared = 64 * 1024 * 1024
    async with front_door({"max_body_size": "64KiB", "linger_size": "1MiB"}) as (gw, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(gw))
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % declared)
        received = bytearray()

        async def read_all() -> None:   # the answer arrives while we are still writing
            try:
                while chunk := await reader.read(65536):
                    received.extend(chunk)
            except ConnectionError:
                pass

        reading = asyncio.create_task(read_all())
        sent = 0
        chunk = b"y" * 65536
        try:
            while sent < declared:
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 5)
                sent += len(chunk)
        except (ConnectionError, TimeoutError):
            pass
        await asyncio.wait_for(reading, 10)
        writer.close()
        answer = bytes(received)
        # the kernel's socket buffers take a few MiB more than the server drains
        assert sent < 24 * 1024 * 1024, f"the server read {sent} bytes of a refused body"
        status, headers, body = parse(answer)
        assert status == 413 and headers["connection"] == "close"
