"""Streaming failures through the real gateway: fall over before content; after content,
continue on the next target, or (continuation off, or nothing can continue) an in-band error."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
from gateway_harness import CHAT, gateway_running, make_config, sims_running

from provider_fallback.sim import Fault

PRIMARY = {"name": "primary", "models": ["m1"], "chunk_count": 6}
BACKUP = {"name": "backup", "models": ["b1"], "chunk_count": 3}


async def _stream(url: str, model: str = "chat", **extra) -> tuple[int, dict[str, str], list[bytes]]:
    """POST a streaming chat and return (status, headers, raw data payloads incl. [DONE])."""
    body = {"model": model, "stream": True, **CHAT, **extra}
    async with aiohttp.ClientSession() as s, s.post(url + "/chat/completions", json=body) as r:
        events: list[bytes] = []
        async for line in r.content:
            line = line.strip()
            if line.startswith(b"data: "):
                events.append(line[6:])
        return r.status, dict(r.headers), events


def _text(events: list[bytes]) -> str:
    out = []
    for e in events:
        if e == b"[DONE]":
            continue
        obj = orjson.loads(e)
        for ch in obj.get("choices", []):
            out.append((ch.get("delta") or {}).get("content") or "")
    return "".join(out)


@pytest.fixture
async def env():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m1", "backup/b1"],
                          "nocont": {"targets": ["primary/m1", "backup/b1"],
                                     "continuation": False}},
                          policy={"stall_timeout": 0.4, "ttft_timeout": 0.6})
        async with gateway_running(cfg) as gw:
            yield p, b, gw


async def test_healthy_stream_relays_every_chunk_and_done(env):
    p, b, gw = env
    status, headers, events = await _stream(gw.url)
    assert status == 200 and headers["x-provider-fallback-provider"] == "primary"
    assert headers["Content-Type"].startswith("text/event-stream")
    assert events[-1] == b"[DONE]"
    assert "primary" in _text(events)


@pytest.mark.parametrize("fault", [
    Fault(cut_after=0), Fault(reset=True), Fault(status=503), Fault(error_after=0),
    Fault(error_after=0, error_finish_only=True), Fault(first_token_delay=2.0),
    Fault(stall_after=0)])
async def test_failure_before_first_content_falls_over_transparently(env, fault):
    p, b, gw = env
    p.set_fault(fault)
    status, headers, events = await _stream(gw.url)
    assert status == 200
    assert headers["x-provider-fallback-provider"] == "backup"
    assert headers["x-provider-fallback-attempts"] == "2"
    assert events[-1] == b"[DONE]"
    assert "backup" in _text(events) and "primary" not in _text(events)


@pytest.mark.parametrize(("fault", "code"), [
    (Fault(cut_after=3), "stream_cut"), (Fault(stall_after=3), "stream_stalled"),
    (Fault(error_after=3, error_status=503), "service_unavailable")])
async def test_failure_after_content_without_continuation_ends_with_inband_error(env, fault, code):
    p, b, gw = env
    p.set_fault(fault)
    p.chunk_delay = 0.01   # content reaches the client before the failure
    status, headers, events = await _stream(gw.url, model="nocont")
    assert status == 200 and headers["x-provider-fallback-provider"] == "primary"
    assert b"[DONE]" not in events
    last = orjson.loads(events[-1])
    assert last["error"]["code"] == code
    assert last["error"]["provider"] == "primary"
    assert last["error"]["resolution"]
    for e in events:  # nothing that is not JSON reached the client
        orjson.loads(e)
    assert b.count() == 0


async def test_a_stream_event_that_is_not_json_is_skipped_and_counted(env):
    p, b, gw = env
    p.set_fault(Fault(malformed_after=2))
    status, headers, events = await _stream(gw.url)
    assert status == 200 and headers["x-provider-fallback-provider"] == "primary"
    assert events[-1] == b"[DONE]"
    assert b.count() == 0
    for e in events[:-1]:
        orjson.loads(e)
    skipped = [e for e in gw.router.events.recent() if e.type == "STREAM_EVENTS_SKIPPED"]
    assert skipped and skipped[-1].fields["count"] == 1
    assert skipped[-1].fields["target"] == "primary/m1"


async def test_missing_done_after_finish_is_finalised(env):
    p, b, gw = env
    p.set_fault(Fault(no_done=True))
    status, headers, events = await _stream(gw.url)
    assert status == 200 and events[-1] == b"[DONE]"
    assert headers["x-provider-fallback-provider"] == "primary"


async def test_all_fail_before_first_byte_is_a_503_json_error(env):
    p, b, gw = env
    p.set_fault(Fault(status=503))
    b.set_fault(Fault(cut_after=0))
    body = {"model": "chat", "stream": True, **CHAT}
    async with aiohttp.ClientSession() as s, s.post(gw.url + "/chat/completions", json=body) as r:
        assert r.status == 503
        err = (await r.json())["error"]
    assert err["code"] == "all_providers_failed"
    assert [a["code"] for a in err["attempts"]] == ["service_unavailable", "stream_cut"]


async def test_a_client_that_leaves_mid_stream_abandons_the_upstream_at_once():
    """The front door tells the relay the connection is gone (no task per stream waits
    for it): the upstream stream is dropped then, not when it would have ended."""
    async with sims_running({"name": "slow", "models": ["m"], "chunk_count": 40,
                             "chunk_delay": 0.1}) as (s,):
        cfg = make_config({"slow": s}, {"chat": ["slow/m"]})
        async with gateway_running(cfg) as gw:
            records = []
            gw.router.requests.add(records.append)
            body = {"model": "chat", "stream": True, **CHAT}
            async with aiohttp.ClientSession() as session:
                resp = await session.post(gw.url + "/chat/completions", json=body)
                assert resp.status == 200
                await resp.content.readuntil(b"\n\n")   # the first event
                resp.close()                            # the client hangs up
            loop = asyncio.get_running_loop()
            left = loop.time()
            while not records and loop.time() - left < 2.0:
                await asyncio.sleep(0.02)
            assert records and records[-1].outcome == "client_disconnected"
            assert loop.time() - left < 1.0   # the whole stream would take 4 s
            assert gw.router.inflight == 0
