"""The baseline the gateway is measured against: a relay with no logic at all.

    python bench/bare_relay.py --upstream http://127.0.0.1:PORT/v1 --port N

uvicorn + aiohttp and nothing else: `POST /v1/chat/completions` is forwarded to
`<upstream>/chat/completions` on one pooled `aiohttp.ClientSession` (100 connections, the
gateway's per-provider default). A non-streaming answer is read whole and returned with
its status and content type; a streaming one (`text/event-stream`) is relayed as it
arrives, one ASGI `send` per block the socket delivered, without parsing. No retries, no
timeouts, no accounting. uvicorn runs with the gateway's settings
(`provider_fallback/server/_serve.py`: httptools, uvloop when installed, access log,
server and date headers off, keep-alive 30 s), copied here rather than imported so this
process loads none of the gateway's code.
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

import aiohttp
import uvicorn

__all__ = ["BareRelay"]

_FORWARD = ("content-type", "authorization")


class BareRelay:
    """A pure ASGI app: the relay."""

    def __init__(self, upstream: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        if scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"error":"not found"}'})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]
                   if k.decode().lower() in _FORWARD}
        assert self.session is not None
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            ctype = resp.headers.get("Content-Type", "application/json")
            if ctype.startswith("text/event-stream"):
                await send({"type": "http.response.start", "status": resp.status,
                            "headers": [(b"content-type", ctype.encode()),
                                        (b"cache-control", b"no-cache")]})
                async for block in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": block,
                                "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                return
            data = await resp.read()
            await send({"type": "http.response.start", "status": resp.status,
                        "headers": [(b"content-type", ctype.encode()),
                                    (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=100), timeout=aiohttp.ClientTimeout())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:9000/v1")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=4200)
    ap.add_argument("--log-level", default="warning")
    a = ap.parse_args()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    uvicorn.run(BareRelay(a.upstream), host=a.host, port=a.port, loop=loop, http=http,
                lifespan="on", access_log=False, log_level=a.log_level, server_header=False,
                date_header=False, timeout_keep_alive=30)


if __name__ == "__main__":
    main()   # uvicorn handles SIGTERM/SIGINT: a graceful shutdown
