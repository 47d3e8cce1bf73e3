"""Deadlines of the request path on one loop timer: a heap of plain tuples, not a TimerHandle each.

Every upstream exchange has a deadline (the attempt's timeout, or a stream's time to its
head) and every stream a watchdog (time to first token, then the stall timer); nearly all
of them are cancelled long before they are due. On asyncio's own loop each `call_at` is a
`TimerHandle` pushed on the loop's heap with a Python-level `__lt__` per comparison, and
with a few hundred streams in flight a stream's three timers cost ~10 µs of its CPU
(measured in-process, bench/bench_gateway.py's stream: 176 vs 187 µs a 1-chunk stream).

`Deadlines` keeps them as `(when, seq, Deadline)` tuples on its own heap (C comparisons)
and one loop timer armed at the earliest: adding a deadline later than that one (the
usual case) touches only the heap; cancelling sets a flag. Cancelled entries leave when
they reach the top or, once they are more than half the heap, in one sweep, so the heap
stays bounded by about twice what is live. Callbacks run from the loop timer, at their
time (the loop's timer resolution), in deadline order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import weakref
from collections.abc import Callable

__all__ = ["Deadline", "Deadlines", "deadlines_for"]

_SWEEP_MIN = 256      # cancelled entries tolerated before a sweep is considered
_EARLY = 0.001        # the loop may wake this much before a deadline: it counts as due


class Deadline:
    """One pending deadline; `cancel()` it when what it guards is over."""

    __slots__ = ("_owner", "callback", "done", "when")

    def __init__(self, owner: Deadlines, when: float, callback: Callable[[], object]) -> None:
        self._owner = owner
        self.when = when
        self.callback = callback
        self.done = False      # fired or cancelled

    def cancel(self) -> None:
        if not self.done:
            self.done = True
            self._owner._cancelled_one()


class Deadlines:
    """The deadlines of one event loop."""

    __slots__ = ("__weakref__", "_armed", "_cancelled", "_handle", "_heap", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed = float("inf")
        self._cancelled = 0

    def at(self, when: float, callback: Callable[[], object]) -> Deadline:
        """Call `callback()` at loop time `when` unless the returned Deadline is cancelled."""
        d = Deadline(self, when, callback)
        heapq.heappush(self._heap, (when, next(self._seq), d))
        if when < self._armed:
            self._arm(when)
        return d

    def __len__(self) -> int:
        """Entries on the heap (live and not yet swept)."""
        return len(self._heap)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed = float("inf")
        heap = self._heap
        due = self._loop.time() + _EARLY
        pop = heapq.heappop
        while heap:
            when, _, d = heap[0]
            if d.done:
                pop(heap)
                self._cancelled -= 1
                continue
            if when > due:
                break
            pop(heap)
            d.done = True
            try:
                d.callback()
            except Exception as exc:  # like a loop callback: reported, the others still run
                self._loop.call_exception_handler({
                    "message": "deadline callback failed", "exception": exc})
        if heap:
            self._arm(heap[0][0])

    def _cancelled_one(self) -> None:
        self._cancelled += 1
        if self._cancelled > _SWEEP_MIN and 2 * self._cancelled > len(self._heap):
            self._heap = [e for e in self._heap if not e[2].done]
            heapq.heapify(self._heap)
            self._cancelled = 0
            if not self._heap and self._handle is not None:
                self._handle.cancel()
                self._handle = None
                self._armed = float("inf")


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = \
    weakref.WeakKeyDictionary()
_last: tuple[asyncio.AbstractEventLoop, Deadlines] | None = None


def deadlines_for(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """The Deadlines of `loop` (one per loop; the last one asked for is a global lookup)."""
    global _last
    last = _last
    if last is not None and last[0] is loop:
        return last[1]
    try:
        found = _BY_LOOP.get(loop)
        if found is None:
            found = _BY_LOOP[loop] = Deadlines(loop)
    except TypeError:   # a loop that cannot be weakly referenced: one per call is correct too
        found = Deadlines(loop)
    _last = (loop, found)
    return found
