"""The benchmark's own parts, over loopback with the official client: the fast mock
upstream speaks OpenAI's wire format (chunk by chunk, usage, [DONE]), the bare relay
passes answers and streams through untouched, the gateway relays the mock's streams whole,
and the gateway config the benchmark writes has every feature on."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import openai
import pytest
import uvicorn

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bare_relay  # noqa: E402
import bench_gateway  # noqa: E402
import fast_upstream  # noqa: E402
from _harness import body, parse_wrk, verify  # noqa: E402

from provider_fallback import load_config  # noqa: E402
from provider_fallback.server import running_gateway  # noqa: E402

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def upstream():
    server = await fast_upstream.serve("127.0.0.1", 0, rate_headers=True)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    server.close()
    await server.wait_closed()


@pytest.fixture
async def relay(upstream):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(bare_relay.BareRelay(upstream), lifespan="on", log_level="warning",
                            access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the bare relay did not start"
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    await task
    sock.close()


async def collect(base_url: str, tokens: int, include_usage: bool = True):
    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)
    try:
        kwargs = {"stream_options": {"include_usage": True}} if include_usage else {}
        stream = await client.chat.completions.create(
            model="bench", messages=MESSAGES, max_tokens=tokens, stream=True, **kwargs)
        return [chunk async for chunk in stream]
    finally:
        await client.close()


def shape(chunks):
    content = [c.choices[0].delta.content for c in chunks
               if c.choices and c.choices[0].delta.content]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = [c.usage for c in chunks if c.usage]
    return content, finish, usage


@pytest.mark.parametrize("tokens", [1, 20, 200])
async def test_fast_upstream_streams_one_chunk_per_token(upstream, tokens):
    chunks = await collect(upstream, tokens)
    content, finish, usage = shape(chunks)
    assert len(content) == tokens
    assert finish == ["stop"]
    assert len(usage) == 1 and usage[0].completion_tokens == tokens
    assert usage[0].total_tokens == usage[0].prompt_tokens + tokens
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.object for c in chunks} == {"chat.completion.chunk"}


async def test_fast_upstream_sends_usage_only_when_asked(upstream):
    content, finish, usage = shape(await collect(upstream, 5, include_usage=False))
    assert len(content) == 5 and finish == ["stop"] and usage == []


async def test_fast_upstream_non_streaming_and_errors(upstream):
    client = openai.AsyncOpenAI(base_url=upstream, api_key="unused", max_retries=0)
    try:
        answer = await client.chat.completions.with_raw_response.create(
            model="m1", messages=MESSAGES, max_tokens=7)
        assert answer.headers["x-ratelimit-remaining-requests"] == "999999"
        parsed = answer.parse()
        assert parsed.choices[0].message.content == "The quick brown fox jumps over the"
        assert parsed.usage.completion_tokens == 7 and parsed.model == "m1"
        models = await client.models.list()
        assert [m.id for m in models.data] == ["bench"]
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model="m1", messages="not a list")  # type: ignore[arg-type]
    finally:
        await client.close()


async def test_bare_relay_passes_answers_and_streams_through(relay):
    content, finish, usage = shape(await collect(relay, 200))
    assert len(content) == 200 and finish == ["stop"] and len(usage) == 1
    client = openai.AsyncOpenAI(base_url=relay, api_key="unused", max_retries=0)
    try:
        answer = await client.chat.completions.create(model="m1", messages=MESSAGES, max_tokens=3)
        assert answer.choices[0].message.content == "The quick brown"
    finally:
        await client.close()
    for chunks in (0, 20):
        assert await asyncio.to_thread(verify, f"{relay}/chat/completions", chunks) is None


async def test_gateway_relays_the_mock_streams_whole(upstream, tmp_path):
    port = int(upstream.rsplit(":", 1)[1].split("/")[0])
    bench_gateway.write_config(tmp_path / "gw.yaml", port, port, None)
    async with running_gateway(load_config(tmp_path / "gw.yaml")) as gw:
        content, finish, usage = shape(await collect(gw.base_url + "/v1", 200))
        assert len(content) == 200 and finish == ["stop"] and len(usage) == 1
        for chunks in (0, 20, 200):
            assert await asyncio.to_thread(verify, gw.base_url + "/v1/chat/completions",
                                           chunks) is None


def test_verify_rejects_incomplete_answers(tmp_path):
    """A cut stream or a wrong chunk count is named, never taken as a success."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Cut(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Cut)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        problem = verify(f"http://127.0.0.1:{server.server_port}/v1/chat/completions", 20)
    finally:
        server.server_close()
    assert problem is not None and "[DONE]" in problem


def test_bench_gateway_config_has_every_feature_on(tmp_path):
    bench_gateway.write_config(tmp_path / "gw.yaml", 1, 2, 3)
    cfg = load_config(tmp_path / "gw.yaml")
    assert cfg.budget.monthly_usd and cfg.budget.daily_usd
    assert cfg.health.enabled and cfg.metrics.enabled
    assert cfg.telemetry.enabled and cfg.telemetry.request_log
    targets = cfg.chains["bench"].targets
    assert [t.key for t in targets] == ["dead/m1", "up/m1", "backup/m1"]
    assert all(t.price is not None and not t.price.free for t in targets)
    assert all(t.limits.rpm and t.limits.tpm for t in targets)


def test_continuation_switch_is_detected_by_validate(tmp_path):
    ok, said = bench_gateway.continuation_supported(tmp_path)
    assert ok or "continuation" in said


def test_request_bodies_and_wrk_output():
    assert '"stream"' not in body(0)
    assert '"max_tokens":200' in body(200) and '"include_usage":true' in body(200)
    out = """Running 2s test @ http://127.0.0.1:1/v1/chat/completions
  Latency Distribution
     50%  412.00us
     90%    1.20ms
     99%    2.50ms
  8123 requests in 2.00s, 1.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:   4061.50
"""
    assert parse_wrk(out) == {"errors": 9, "timeouts": 3, "p50_ms": 0.412, "p90_ms": 1.2, "p99_ms": 2.5,
                              "requests": 8123, "rps": 4061.5}
