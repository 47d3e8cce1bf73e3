"""The gateway on uvloop (the `speed` extra, picked by `serve` when installed): the same
answers as on asyncio's loop. uvloop's loop is a different implementation of the same
interface with gaps (no `happy_eyeballs_delay` in `create_connection`, which once made
every upstream connection fail with a TypeError and every request a 500)."""

from __future__ import annotations

import asyncio

import pytest
from gateway_harness import CHAT, gateway_running, sims_running
from openai import AsyncOpenAI
from ports import free_port

from provider_fallback import config_from_dict
from provider_fallback.sim import Fault

uvloop = pytest.importorskip(
    "uvloop", reason="uvloop is not installed (the test extra installs it except on Windows)")


def _on_uvloop(main):  # type: ignore[no-untyped-def]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def _config(backup, slow, dead_port):  # type: ignore[no-untyped-def]
    """Chain `chat`: a first target nothing listens on (named by `localhost`, which resolves
    to more than one address on many hosts), then the backup; chain `stalls`: a target
    whose stream stalls after content, then the backup."""
    return config_from_dict({
        "providers": [{"name": "dead", "base_url": f"http://localhost:{dead_port}/v1"},
                      {"name": "backup", "base_url": backup.url},
                      {"name": "slow", "base_url": slow.url}],
        "models": {"chat": ["dead/m", "backup/m"], "stalls": ["slow/m", "backup/m"]},
        "policy": {"timeout": 5, "connect_timeout": 2, "ttft_timeout": 3, "stall_timeout": 0.3,
                   "request_deadline": 20},
        "health": {"enabled": False},
    }, environ={})


def test_answers_streams_and_fallbacks_on_uvloop():
    async def main() -> None:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        async with sims_running({"name": "backup", "models": ["m"]},
                                {"name": "slow", "models": ["m"]}) as (backup, slow):
            async with gateway_running(_config(backup, slow, free_port())) as gw:
                client = AsyncOpenAI(base_url=gw.url, api_key="x", max_retries=0)
                raw = await client.chat.completions.with_raw_response.create(model="chat",
                                                                             **CHAT)
                assert raw.parse().choices[0].message.content
                route = raw.headers["x-provider-fallback-route"].split(",")
                assert route[0].startswith("dead/m=") and route[-1] == "backup/m=ok", route

                stream = await client.chat.completions.create(
                    model="chat", stream=True, stream_options={"include_usage": True}, **CHAT)
                chunks = [c async for c in stream]
                assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                assert chunks[-1].usage is not None

                # a stream that stalls after content is continued on the next target: the
                # stall timer is a deadline on this loop
                slow.set_fault(Fault(stall_after=2))
                stream = await client.chat.completions.create(model="stalls", stream=True,
                                                              **CHAT)
                chunks = [c async for c in stream]
                assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                assert chunks[-1].choices[0].finish_reason == "stop"
                await client.close()

    _on_uvloop(main)
