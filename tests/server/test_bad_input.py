"""Bad input gets a clear 4xx in the OpenAI error format, and the server stays up."""

from __future__ import annotations

import aiohttp
import pytest
from gateway_harness import gateway_running, make_config, sims_running


@pytest.fixture
async def gw():
    async with sims_running({"name": "p", "models": ["m"]}) as (p,):
        cfg = make_config({"p": p}, {"chat": ["p/m"]}, server={"max_body_size": "64KB"})
        async with gateway_running(cfg) as gw:
            yield gw


async def _post(gw, path: str, data: bytes, headers=None):
    async with aiohttp.ClientSession() as s, s.post(gw.url + path, data=data,
                                                    headers=headers or {"content-type": "application/json"}) as r:
        return r.status, await r.json(content_type=None)


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_request"),
    (b'{"model": "chat"}', 400, "invalid_request"),
    (b'{"model": "chat", "messages": "hi"}', 400, "invalid_request"),
    (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', 400, "invalid_request"),
    (b'{"model": "chat", "messages": [{"role":"user","content":"x"}], "stream": "yes"}', 400, "invalid_request"),
    (b'{"model": "ghost", "messages": [{"role":"user","content":"x"}]}', 404, "model_not_found"),
    (b"x" * 70_000, 413, "request_too_large"),
])
async def test_bad_requests_get_openai_format_errors(gw, data, status, code):
    got, body = await _post(gw, "/chat/completions", data)
    assert got == status
    assert body["error"]["code"] == code and body["error"]["message"]
    assert "Traceback" not in str(body)
    # the server is still up and answering
    ok, res = await _post(gw, "/chat/completions", b'{"model":"chat","messages":[{"role":"user","content":"x"}]}')
    assert ok == 200 and res["choices"]


async def test_unknown_route_and_method(gw):
    async with aiohttp.ClientSession() as s:
        async with s.get(gw.base_url + "/nope") as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
        async with s.get(gw.url + "/chat/completions") as r:
            assert r.status == 405


async def test_health_and_providers(gw):
    await _post(gw, "/chat/completions", b'{"model":"chat","messages":[{"role":"user","content":"x"}]}')
    async with aiohttp.ClientSession() as s:
        async with s.get(gw.base_url + "/health") as r:
            assert await r.json() == {"status": "healthy"}
        async with s.get(gw.base_url + "/health/providers") as r:
            st = await r.json()
    target = st["providers"]["p"]["targets"]["p/m"]
    assert target["successes"] == 1 and target["last_code"] == "ok"
    assert target["latency_ms_p50"] is not None and st["chains"] == {"chat": ["p/m"]}


async def test_chunked_body_over_limit_is_413(gw):
    async def gen():
        for _ in range(20):
            yield b"x" * 8192

    async with aiohttp.ClientSession() as s, s.post(gw.url + "/chat/completions", data=gen(),
                                                    headers={"content-type": "application/json"}) as r:
        assert r.status == 413


