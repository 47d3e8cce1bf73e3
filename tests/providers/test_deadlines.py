"""The request path's deadlines on one loop timer (providers/_deadlines.py)."""

from __future__ import annotations

import asyncio

from provider_fallback.providers._deadlines import Deadlines, deadlines_for


async def test_deadlines_fire_in_order_at_their_time_and_cancelled_ones_never():
    loop = asyncio.get_running_loop()
    timers = Deadlines(loop)
    fired: list[tuple[str, float]] = []
    t0 = loop.time()

    def note(name: str) -> None:
        fired.append((name, loop.time() - t0))

    timers.at(t0 + 0.10, lambda: note("late"))
    timers.at(t0 + 0.05, lambda: note("early"))    # earlier than the armed one: re-armed
    gone = timers.at(t0 + 0.07, lambda: note("cancelled"))
    timers.at(t0 + 0.05, lambda: note("early too"))
    gone.cancel()
    gone.cancel()   # twice is once
    await asyncio.sleep(0.2)
    assert [name for name, _ in fired] == ["early", "early too", "late"]
    assert fired[0][1] >= 0.049 and fired[2][1] >= 0.099
    assert len(timers) == 0 and timers._handle is None   # nothing left, no loop timer


async def test_a_failing_callback_is_reported_and_the_others_still_run():
    loop = asyncio.get_running_loop()
    reported: list[dict] = []
    loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx))
    try:
        timers = Deadlines(loop)
        ran: list[int] = []
        timers.at(loop.time() + 0.01, lambda: 1 / 0)
        timers.at(loop.time() + 0.01, lambda: ran.append(1))
        await asyncio.sleep(0.05)
        assert ran == [1]
        assert isinstance(reported[0]["exception"], ZeroDivisionError)
    finally:
        loop.set_exception_handler(None)


async def test_cancelled_deadlines_do_not_pile_up():
    """A busy gateway cancels nearly every deadline long before it is due: the heap stays
    bounded by about twice what is live, not by everything added in the last timeout."""
    loop = asyncio.get_running_loop()
    timers = Deadlines(loop)
    live = [timers.at(loop.time() + 30, lambda: None) for _ in range(10)]
    for _ in range(20_000):
        timers.at(loop.time() + 30, lambda: None).cancel()
    assert len(timers) <= 2 * 256 + 2 * len(live) + 2
    for d in live:
        d.cancel()


async def test_one_deadlines_per_loop():
    loop = asyncio.get_running_loop()
    assert deadlines_for(loop) is deadlines_for(loop)
    other = asyncio.new_event_loop()
    try:
        assert deadlines_for(other) is not deadlines_for(loop)
        assert deadlines_for(loop) is deadlines_for(loop)
    finally:
        other.close()
