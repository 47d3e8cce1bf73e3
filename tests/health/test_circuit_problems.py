"""Issue 13's numbered problems, each over loopback (sims + router): the breaker must not be
fooled by late answers, broken streams or probes, and a short flap must not cost minutes.

The router's clock is injected where the scenario is about time (open periods, a sequence
of requests); real durations are short timeouts only. No timed assertions.
"""

from __future__ import annotations

import asyncio

import pytest
from gateway_harness import CHAT, Sleeps, eventually, make_config, sims_running

from provider_fallback import Router, StreamInterruptedError
from provider_fallback.sim import Fault

PRIMARY = {"name": "primary", "models": ["m"]}
BACKUP = {"name": "backup", "models": ["m"]}
CHAIN = {"chat": ["primary/m", "backup/m"]}


class Clock:
    """The router's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def _router(sims, *, clock=None, health=None, policy=None):
    cfg = make_config({s.name: s for s in sims}, CHAIN, health=health, policy=policy)
    kw = {} if clock is None else {"clock": clock}
    return Router(cfg, sleep=Sleeps(), rand=lambda: 0.0, **kw)


def _circuit(router, key="primary/m"):
    return router.state.circuit(key)


def _opened(router, key="primary/m"):
    return [e.fields for e in router.events.recent()
            if e.type == "CIRCUIT_OPENED" and e.fields["key"] == key]


async def _open_primary(router, p, *, stream=False) -> None:
    """Send until the primary's circuit is open (one 503 here; three before issue 13)."""
    p.set_fault(Fault(status=503))
    for _ in range(3):
        if stream:
            assert (await _stream_text(router))[0] == "backup"
        else:
            assert (await router.chat(model="chat", **CHAT)).provider == "backup"
        if _circuit(router).state.value == "open":
            return
    raise AssertionError("three 503s did not open the primary")


async def _stream_text(router) -> tuple[str, bool]:
    """(provider, broken) of one streamed request, read to its end."""
    stream = await router.chat_stream(model="chat", **CHAT)
    try:
        async for _ in stream:
            pass
    except StreamInterruptedError:
        return stream.provider, True
    return stream.provider, False


# 1 ------------------------------------------------------------------------------------------
async def test_1_a_late_success_does_not_close_a_circuit_opened_meanwhile():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.push_fault(Fault(latency=0.4))          # the first request to arrive answers late
        p.set_fault(Fault(status=503))            # every other one fails at once
        async with _router([p, b]) as router:
            results = await asyncio.gather(*(router.chat(model="chat", **CHAT) for _ in range(8)))
            assert p.count() == 8                 # all were admitted before it opened
            assert sum(r.provider == "primary" for r in results) == 1   # the late one
            c = _circuit(router)
            assert c.state.value == "open", "a late success closed the open circuit"
            assert not [e for e in router.events.recent() if e.type == "CIRCUIT_CLOSED"]
            assert len(_opened(router)) == 1      # the other 503s were of an older generation


# 2 ------------------------------------------------------------------------------------------
async def test_2_a_half_open_trial_stream_cut_after_its_first_token_reopens_for_longer():
    clock = Clock()
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        async with _router([p, b], clock=clock) as router:
            await _open_primary(router, p, stream=True)
            first = _opened(router)[0]["open_s"]
            p.set_fault(Fault(cut_after=2))       # the primary now cuts every stream
            broken = 0
            for step in (1, 2, 3):
                clock.now = _circuit(router).open_until + 0.01   # the open period is over
                provider, cut = await _stream_text(router)
                assert provider == "primary"      # the half-open trial
                broken += cut
                c = _circuit(router)
                assert c.state.value == "open", "the trial passed at its first token"
                assert c.reopens == step
                # between trials nobody else reaches the primary
                seen = p.count()
                assert await _stream_text(router) == ("backup", False)
                assert p.count() == seen
            # every trial's cut stream was continued on the backup: no client stream broke
            assert broken == 0
            assert [round(e["open_s"]) for e in _opened(router)] == [5, 10, 10, 10]
            assert first == 5.0


# 3 ------------------------------------------------------------------------------------------
async def test_3_pings_that_reach_models_do_not_end_the_open_period_of_503ing_completions():
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        health = {"quick_interval": 0.05, "quick_timeout": 1, "full_interval": 3600}
        async with _router([p, b], health=health) as router:
            await _open_primary(router, p)        # completions fail, GET /models answers
            attempts = p.count(path="chat")
            c = _circuit(router)
            until, generation = c.open_until, getattr(c, "generation", None)
            pings: list[object] = []

            def five_more_pings() -> bool:
                last = router.monitor.last("primary").get("quick")
                if last is not None and last.ok and (not pings or pings[-1] is not last):
                    pings.append(last)
                return len(pings) >= 5
            await eventually(five_more_pings)
            for _ in range(5):
                res = await router.chat(model="chat", **CHAT)
                assert [a.provider for a in res.attempts] == ["backup"]
            assert p.count(path="chat") == attempts, "a probe ended the open period"
            c = _circuit(router)
            assert (c.state.value, c.open_until) == ("open", until)
            assert c.generation == generation
            assert all(e["open_s"] <= 60 for e in _opened(router))


# 4 ------------------------------------------------------------------------------------------
async def test_4_a_503_opens_for_seconds_and_the_primary_is_used_again_after_a_short_flap():
    clock = Clock()
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        async with _router([p, b], clock=clock) as router:
            start = clock.now
            served = []
            for i in range(10):                   # one streamed request every 1.2 s
                clock.now = start + 1.2 * i
                p.set_fault(Fault(status=503) if clock.now - start < 6.0 else None)
                provider, broken = await _stream_text(router)
                assert not broken
                served.append(provider)
            assert served[0] == "backup"
            assert served[-4:] == ["primary"] * 4, served
            assert p.count(path="chat") == 1 + served.count("primary")  # one strike, no more
            assert [round(e["open_s"], 1) for e in _opened(router)] == [5.0]


async def test_4_open_periods_of_a_503ing_primary_start_at_5_s_and_double_to_10():
    """A 503 answered at once opens for 5 s, then 10 s, and never longer: a trial costs
    nothing noticeable, so a recovered primary is used again within 10 s."""
    clock = Clock()
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=503))
        async with _router([p, b], clock=clock) as router:
            for _ in range(2):
                await router.chat(model="chat", **CHAT)
                clock.now = _circuit(router).open_until + 0.01
            assert [e["open_s"] for e in _opened(router)] == [5.0, 10.0]
            for _ in range(2):
                await router.chat(model="chat", **CHAT)
                clock.now = _circuit(router).open_until + 0.01
            assert [e["open_s"] for e in _opened(router)] == [5.0, 10.0, 10.0, 10.0]


# 5 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", [Fault(hang=True), Fault(status=503)], ids=["hang", "503"])
async def test_5_a_hung_or_503ing_target_costs_one_attempt_before_its_cooldown(fault):
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(fault)
        async with _router([p, b], policy={"timeout": 0.5, "ttft_timeout": 0.5}) as router:
            for _ in range(3):
                res = await router.chat(model="chat", **CHAT)
                assert res.provider == "backup"
            assert p.count() == 1                 # the first timeout opened it
            assert _circuit(router).state.value == "open"


async def test_a_streams_outcome_is_its_end_with_ttft_and_total_recorded_apart():
    async with sims_running({**PRIMARY, "chunk_delay": 0.02}, BACKUP) as (p, b):
        async with _router([p, b]) as router:
            stream = await router.chat_stream(model="chat", **CHAT)
            st = router.state.stats("primary/m")
            assert st is None or st.successes == 0   # not a success at its first token
            async for _ in stream:
                pass
            st = router.state.stats("primary/m")
            assert st.successes == 1 and len(st.ttft_ms) == 1 and len(st.latency_ms) == 1
            assert st.ttft_ms[0] < st.latency_ms[0]   # the first token came before the end
            await router.chat(model="chat", **CHAT)   # a plain answer has no TTFT
            assert len(st.ttft_ms) == 1 and len(st.latency_ms) == 2
            view = router.status()["providers"]["primary"]["targets"]["primary/m"]
            assert view["ttft_ms_p50"] is not None and view["latency_ms_p50"] is not None
