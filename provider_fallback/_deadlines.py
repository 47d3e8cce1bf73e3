"""Many coarse deadlines on one event loop, one loop timer per time slot in use.

Every request and stream on the gateway arms timeouts that almost never fire: the
upstream's whole-answer deadline or its head deadline, a stream's time-to-first-token
and stall watchdog, the client connection's keep-alive. As asyncio `TimerHandle`s each
costs a Python object, a push onto the loop's timer heap (Python-level comparisons, the
heap long with the cancelled handles it keeps until their time comes), a cancel and a
later pop: three or four of those per stream were a measurable share of its CPU.

Here a deadline is an entry in the dict of its `RESOLUTION`-wide slot, and each slot in
use has one loop timer: arming and cancelling are a dict insert and a dict pop, and the
thousands of deadlines that fall into one slot share its timer (a hashed timing wheel,
as netty's and nginx's timers are). A deadline fires at the end of its slot: never
early, at most `RESOLUTION` late, which no timeout of seconds can tell apart.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from ._loop import running_loop

__all__ = ["RESOLUTION", "Deadline", "Deadlines", "deadlines"]

RESOLUTION = 0.01   # seconds per slot


class Deadline:
    """An armed deadline: `cancel()` it (idempotent) if it is no longer needed."""

    __slots__ = ("_slot", "callback")

    def __init__(self, callback: Callable[[], object], slot: dict[Deadline, None]) -> None:
        self.callback = callback
        self._slot: dict[Deadline, None] | None = slot

    def cancel(self) -> None:
        slot = self._slot
        if slot is not None:
            self._slot = None
            slot.pop(self, None)

    def cancelled(self) -> bool:
        """True once cancelled or fired."""
        return self._slot is None


class Deadlines:
    """The deadlines of one loop: `call_at(when, callback)` like `loop.call_at`."""

    __slots__ = ("_loop", "_resolution", "_slots")

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float = RESOLUTION) -> None:
        self._loop = loop
        self._resolution = resolution
        self._slots: dict[int, dict[Deadline, None]] = {}

    def call_at(self, when: float, callback: Callable[[], object]) -> Deadline:
        """Call `callback()` once the loop's clock has passed `when` (loop time)."""
        n = int(when / self._resolution) + 1   # the slot's end is after `when`: never early
        slot = self._slots.get(n)
        if slot is None:
            slot = self._slots[n] = {}
            self._loop.call_at(n * self._resolution, self._fire, n)
        deadline = Deadline(callback, slot)
        slot[deadline] = None
        return deadline

    def __len__(self) -> int:
        """Armed deadlines (for tests and metrics)."""
        return sum(len(slot) for slot in self._slots.values())

    def _fire(self, n: int) -> None:
        slot = self._slots.pop(n, None)
        if not slot:
            return
        for deadline in list(slot):
            if deadline._slot is None:   # cancelled by an earlier callback of this slot
                continue
            deadline._slot = None
            try:
                deadline.callback()
            except Exception as exc:   # as the loop does for a failing timer callback
                self._loop.call_exception_handler({
                    "message": "Exception in deadline callback", "exception": exc,
                    "handle": deadline})


_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = \
    weakref.WeakKeyDictionary()
_last: tuple[asyncio.AbstractEventLoop | None, Deadlines | None] = (None, None)


def deadlines(loop: asyncio.AbstractEventLoop | None = None) -> Deadlines:
    """The deadlines of `loop` (default: the running one)."""
    global _last
    if loop is None:
        loop = running_loop()
    last_loop, last = _last
    if loop is last_loop and last is not None:
        return last
    found = _LOOPS.get(loop)
    if found is None:
        found = _LOOPS[loop] = Deadlines(loop)
    _last = (loop, found)
    return found
