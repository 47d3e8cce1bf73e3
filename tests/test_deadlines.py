"""Coarse deadlines (`_deadlines.py`): never early, at most one slot late, one loop timer
per slot in use, cancel is cheap and final, a failing callback does not stop the others."""

from __future__ import annotations

import asyncio

from provider_fallback._deadlines import RESOLUTION, Deadlines, deadlines


async def _until(done, timeout: float = 5.0) -> None:
    """Wait (a busy machine may run the loop late) until `done()`, at most `timeout`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not done() and loop.time() < end:
        await asyncio.sleep(0.01)


async def test_a_deadline_fires_after_its_time_and_within_one_slot() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    due = [loop.time() + d for d in (0.0, 0.013, 0.05, 0.101)]
    for when in due:
        deadlines().call_at(when, lambda: fired.append(loop.time()))
    await _until(lambda: len(fired) == 4)
    assert len(fired) == 4
    for when, at in zip(due, sorted(fired), strict=True):
        assert at >= when            # never early
        assert at - when < 2.0       # and not lost (one slot late, plus a busy loop's delay)


async def test_deadlines_in_one_slot_share_one_loop_timer_and_fire_in_order() -> None:
    loop = asyncio.get_running_loop()
    wheel = Deadlines(loop)
    before = len(loop._scheduled)   # type: ignore[attr-defined]
    order: list[int] = []
    # early in a slot, so the 100 deadlines (1 ms in all) cannot straddle two slots (from
    # loop.time() + 0.05 they did about once in ten runs: 1 ms of a 10 ms slot)
    when = (int((loop.time() + 0.05) / RESOLUTION) + 0.1) * RESOLUTION
    for i in range(100):
        wheel.call_at(when + i * RESOLUTION / 1000, lambda i=i: order.append(i))
    assert len(loop._scheduled) - before == 1   # type: ignore[attr-defined]
    assert len(wheel) == 100
    await _until(lambda: len(order) == 100)
    assert order == list(range(100)) and len(wheel) == 0


async def test_a_cancelled_deadline_never_fires_even_from_a_callback_of_its_slot() -> None:
    loop = asyncio.get_running_loop()
    wheel = Deadlines(loop)
    fired: list[str] = []
    when = loop.time() + 0.02
    second = None

    def first() -> None:
        fired.append("first")
        second.cancel()  # type: ignore[union-attr]

    wheel.call_at(when, first)
    second = wheel.call_at(when, lambda: fired.append("second"))
    third = wheel.call_at(when, lambda: fired.append("third"))
    third.cancel()
    third.cancel()   # idempotent
    assert third.cancelled() and not second.cancelled()
    await _until(lambda: bool(fired))
    await asyncio.sleep(0.05)   # the rest of its slot has run by now
    assert fired == ["first"]


async def test_a_failing_callback_is_reported_and_the_rest_of_its_slot_still_fires() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        wheel = Deadlines(loop)
        fired: list[int] = []
        when = loop.time() + 0.02

        def boom() -> None:
            raise RuntimeError("boom")

        wheel.call_at(when, boom)
        wheel.call_at(when, lambda: fired.append(1))
        await _until(lambda: bool(fired))
        assert fired == [1]
        assert len(reported) == 1 and isinstance(reported[0]["exception"], RuntimeError)
    finally:
        loop.set_exception_handler(None)


async def test_each_loop_has_its_own_deadlines() -> None:
    here = deadlines()
    assert deadlines(asyncio.get_running_loop()) is here

    def other() -> Deadlines:
        return asyncio.run(_current())

    there = await asyncio.to_thread(other)
    assert there is not here


async def _current() -> Deadlines:
    return deadlines()
