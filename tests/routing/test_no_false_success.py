"""Never a false success: what is not a complete answer is a failure that falls over."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from gateway_harness import CHAT, gateway_running, make_config, sims_running

from provider_fallback import Router
from provider_fallback.errors import StreamInterruptedError
from provider_fallback.sim import Fault

PRIMARY = {"name": "primary", "models": ["m1", "e1"], "chunk_count": 0,
           "reply": "one two three four five six seven eight"}
BACKUP = {"name": "backup", "models": ["b1", "e2"], "chunk_count": 0,
          "reply": "one two three four five six seven eight"}


def _config(p, b, **policy):
    return make_config({"primary": p, "backup": b},
                       {"chat": ["primary/m1", "backup/b1"], "embed": ["primary/e1", "backup/e2"],
                        "single": {"targets": ["primary/m1"], "continuation": False}},
                       policy={"stall_timeout": 0.3, "ttft_timeout": 1.0, **policy})


@pytest.mark.parametrize("garbage", [b'{"id": "x"}', b'{"id": "x", "choices": []}',
                                     b'{"id": "x", "choices": [{"index": 0}]}', b"[]", b"null"])
async def test_a_garbage_200_is_malformed_and_falls_over(garbage):
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(garbage=garbage))
        async with Router(_config(p, b)) as router:
            res = await router.chat(model="chat", **CHAT)
            status = router.status()["providers"]["primary"]["targets"]["primary/m1"]
    assert res.provider == "backup"
    assert [a.code for a in res.attempts] == ["malformed_response", "ok"]
    assert status["failures"] == 1 and status["successes"] == 0


async def test_embeddings_without_data_are_malformed():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(garbage=b'{"object": "list", "model": "e1"}'), model="e1")
        async with Router(_config(p, b)) as router:
            res = await router.embeddings(model="embed", input=["x"])
    assert res.provider == "backup" and res.attempts[0].code == "malformed_response"


@pytest.mark.parametrize(("fault", "code"), [
    (Fault(error_after=0, error_status=429, error_message="Rate limit exceeded: free-models-per-min"),
     "rate_limit"),
    (Fault(error_after=0, error_status=503, error_message="Provider overloaded"), "overloaded"),
    (Fault(error_after=0, error_finish_only=True), "stream_error_event"),
])
async def test_an_error_event_before_content_is_classified_and_falls_over(fault, code):
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(fault)
        async with Router(_config(p, b)) as router:
            stream = await router.chat_stream(model="chat", **CHAT)
            chunks = [c async for c in stream]
    assert stream.provider == "backup"
    assert stream.attempts[0].code.startswith(code)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_an_error_event_after_content_is_never_relayed_as_a_success():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(error_after=3))
        p.chunk_delay = 0.01
        async with Router(_config(p, b)) as router:
            stream = await router.chat_stream(model="single", **CHAT)
            got = []
            with pytest.raises(StreamInterruptedError) as ei:
                async for c in stream:
                    got.append(c)
    assert got and ei.value.failure.provider == "primary"
    assert not [c for c in got if c["choices"] and c["choices"][0].get("finish_reason")]


async def test_with_n_2_every_choice_must_finish_before_done():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(unfinished_choice=1))
        p.chunk_delay = 0.01   # content reaches the client before the stream ends
        cfg = _config(p, b)
        async with gateway_running(cfg) as gw:
            body = {"model": "single", "stream": True, "n": 2, **CHAT}
            async with aiohttp.ClientSession() as s, \
                    s.post(gw.url + "/chat/completions", json=body) as r:
                events = [line.strip()[6:] async for line in r.content
                          if line.startswith(b"data: ")]
            p.set_fault(None)
            async with aiohttp.ClientSession() as s, \
                    s.post(gw.url + "/chat/completions", json=body) as r:
                whole = [line.strip()[6:] async for line in r.content
                         if line.startswith(b"data: ")]
    assert b"[DONE]" not in events
    assert orjson.loads(events[-1])["error"]["code"] == "stream_unfinished"
    assert whole[-1] == b"[DONE]"
    finished = {c["index"] for e in whole[:-1] for c in orjson.loads(e)["choices"]
                if c.get("finish_reason")}
    assert finished == {0, 1}


async def test_no_first_token_within_ttft_is_named_timeout_first_token():
    """A stream that sends its role chunk and then nothing is ended by the time-to-first-
    token timer (1 s here), not the shorter stall timer (0.3 s), and named for it."""
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(stall_after=0))
        async with Router(_config(p, b)) as router:
            clock = router._clock
            t0 = clock()
            stream = await router.chat_stream(model="chat", **CHAT)
            took = clock() - t0
            [c async for c in stream]
    assert stream.provider == "backup"
    assert stream.attempts[0].code == "timeout_first_token"
    assert took >= 0.95          # the TTFT deadline, not the stall timer, ended it
