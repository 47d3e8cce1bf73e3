"""A fast OpenAI-compatible mock upstream for benchmarks: never the bottleneck.

    python bench/fast_upstream.py --port N [--host 127.0.0.1] [--ratelimit-headers]
                                  [--per-event-writes]

`POST /v1/chat/completions` (and `/chat/completions`) answers at once, for any model:

- the answer has `max_tokens` (or `max_completion_tokens`, default 16, at most 100,000)
  completion tokens, one word each;
- non-streaming: one `chat.completion` body with `usage`;
- `"stream": true`: an SSE stream in chunked transfer encoding, each chunk its own event
  (and its own HTTP chunk): a role chunk, one content chunk per token, a finish chunk,
  a usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`. The chunk
  JSON is what OpenAI sends (`id`, `object`, `created`, `model`, `system_fingerprint`,
  `choices[{index, delta, logprobs, finish_reason}]`).

`GET /v1/models`, `/models` and `/health` answer too, so a gateway's health probes pass.

Why not `provider-fallback sim`: the simulator is an aiohttp app that builds every chunk
and awaits one `write` per chunk, sends a fixed handful of chunks (it cannot stream 200),
and on this machine tops out below the bare relay (measured with wrk on the other core:
about 1,850 req/s non-streaming, while the bare relay over this mock did 2,400), so it
would measure itself. This one is an asyncio protocol on httptools: each distinct answer
is built once and cached as bytes, and a whole response goes to the socket in one
`writelines` call, i.e. as fast as the socket takes it. `--per-event-writes` instead
hands the transport one write per SSE event (one send syscall each), closer to a real
provider whose tokens leave one by one; it costs this process several times the CPU
(with wrk on the same core it then nears the bare relay's rate on 200-chunk streams).

`--ratelimit-headers` adds Groq-style `x-ratelimit-*` headers (huge limits, never
binding) to every answer, as real providers send them, so a gateway's header learning is
exercised.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import socket
import sys
import time
from typing import Any

import httptools
import orjson

__all__ = ["FastUpstream", "build_response", "serve"]

MAX_TOKENS = 100_000
DEFAULT_TOKENS = 16
_WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog",
          ",", " and", " then", " it", " writes", " some", " code", ".")
_RATE_HEADERS = (b"x-ratelimit-limit-requests: 1000000\r\n"
                 b"x-ratelimit-remaining-requests: 999999\r\n"
                 b"x-ratelimit-reset-requests: 2m59.56s\r\n"
                 b"x-ratelimit-limit-tokens: 1000000000\r\n"
                 b"x-ratelimit-remaining-tokens: 999990000\r\n"
                 b"x-ratelimit-reset-tokens: 7.66s\r\n")
_CACHE_MAX = 512


def _word(i: int) -> str:
    return _WORDS[i % len(_WORDS)]


def _status_line(status: int) -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}
    return b"HTTP/1.1 %d %s\r\n" % (status, reason.get(status, b"Error"))


def _json_response(status: int, body: bytes, keep_alive: bool, extra: bytes = b"") -> bytes:
    return (_status_line(status) + b"content-type: application/json\r\ncontent-length: %d\r\n"
            % len(body) + extra + (b"" if keep_alive else b"connection: close\r\n")
            + b"\r\n" + body)


def _error(status: int, message: str, keep_alive: bool) -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error",
                                   "code": None}})
    return _json_response(status, body, keep_alive)


def build_response(model: str, stream: bool, tokens: int, include_usage: bool,
                   prompt_tokens: int, *, keep_alive: bool = True,
                   rate_headers: bool = False) -> list[bytes]:
    """The whole HTTP response as a list of byte strings: the head, then (streaming) one
    HTTP chunk per SSE event and the last-chunk marker."""
    created = int(time.time())
    ident = f"chatcmpl-bench{tokens}"
    extra = _RATE_HEADERS if rate_headers else b""
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens,
             "total_tokens": prompt_tokens + tokens}
    if not stream:
        text = "".join(_word(i) for i in range(tokens))
        body = orjson.dumps({
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage})
        return [_json_response(200, body, keep_alive, extra)]
    head = (_status_line(200) + b"content-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n" + extra
            + (b"" if keep_alive else b"connection: close\r\n") + b"\r\n")
    base = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_bench"}

    def event(obj: dict[str, Any]) -> bytes:
        data = b"data: " + orjson.dumps(obj) + b"\n\n"
        return b"%x\r\n%s\r\n" % (len(data), data)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return event({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                           "finish_reason": finish}]})

    out = [head, chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": _word(i)}) for i in range(tokens)]
    out.append(chunk({}, "stop"))
    if include_usage:
        out.append(event({**base, "choices": [], "usage": usage}))
    done = b"data: [DONE]\n\n"
    out.append(b"%x\r\n%s\r\n" % (len(done), done))
    out.append(b"0\r\n\r\n")
    return out


_MODELS = _json_response(200, orjson.dumps({"object": "list", "data": [
    {"id": "bench", "object": "model", "created": 0, "owned_by": "bench"}]}), True)
_HEALTH = _json_response(200, b'{"status":"healthy"}', True)


class FastUpstream(asyncio.Protocol):
    """One HTTP/1.1 connection (keep-alive, pipelining-safe: requests answered in order)."""

    cache: dict[tuple[Any, ...], list[bytes]] = {}
    rate_headers = False
    per_event_writes = False
    served = itertools.count()

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(_error(400, "malformed HTTP request", False))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        keep_alive = self.parser.should_keep_alive()
        parts = self._answer(self.parser.get_method(), self.url.split(b"?", 1)[0], keep_alive)
        next(self.served)
        if self.per_event_writes and len(parts) > 1:
            for p in parts:
                transport.write(p)
        else:
            transport.writelines(parts)
        if not keep_alive:
            transport.close()

    def _answer(self, method: bytes, path: bytes, keep_alive: bool) -> list[bytes]:
        if path in (b"/v1/chat/completions", b"/chat/completions"):
            if method != b"POST":
                return [_error(405, "use POST", keep_alive)]
            return self._chat(b"".join(self.body), keep_alive)
        if method == b"GET" and path in (b"/v1/models", b"/models"):
            return [_MODELS]
        if method == b"GET" and path.startswith(b"/health"):
            return [_HEALTH]
        return [_error(404, f"no route {path.decode(errors='replace')}", keep_alive)]

    def _chat(self, raw: bytes, keep_alive: bool) -> list[bytes]:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return [_error(400, "We could not parse the JSON body of your request.", keep_alive)]
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return [_error(400, "body must be a JSON object with `messages`", keep_alive)]
        model = str(body.get("model") or "bench")
        stream = bool(body.get("stream"))
        tokens = body.get("max_tokens") or body.get("max_completion_tokens") or DEFAULT_TOKENS
        tokens = max(1, min(MAX_TOKENS, int(tokens))) if isinstance(tokens, int) else DEFAULT_TOKENS
        options = body.get("stream_options")
        include_usage = stream and isinstance(options, dict) and bool(options.get("include_usage"))
        prompt_tokens = max(1, len(raw) // 4)
        key = (model, stream, tokens, include_usage, prompt_tokens, keep_alive)
        parts = self.cache.get(key)
        if parts is None:
            if len(self.cache) >= _CACHE_MAX:
                self.cache.clear()
            parts = self.cache[key] = build_response(
                model, stream, tokens, include_usage, prompt_tokens, keep_alive=keep_alive,
                rate_headers=self.rate_headers)
        return parts


async def serve(host: str, port: int, *, rate_headers: bool = False,
                per_event_writes: bool = False) -> asyncio.Server:
    """Start listening; returns the server (its port: `server.sockets[0].getsockname()[1]`)."""
    FastUpstream.rate_headers = rate_headers
    FastUpstream.per_event_writes = per_event_writes
    loop = asyncio.get_running_loop()
    return await loop.create_server(FastUpstream, host, port, backlog=4096, reuse_address=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ratelimit-headers", action="store_true")
    ap.add_argument("--per-event-writes", action="store_true")
    a = ap.parse_args()

    async def run() -> None:
        server = await serve(a.host, a.port, rate_headers=a.ratelimit_headers,
                             per_event_writes=a.per_event_writes)
        port = server.sockets[0].getsockname()[1]
        print(f"fast upstream on http://{a.host}:{port}/v1", flush=True)
        async with server:
            await server.serve_forever()

    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    if sys.platform != "win32":
        import signal

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
