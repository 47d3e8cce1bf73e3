"""Giving memory back once a burst of requests is over.

After a burst of concurrent requests the gateway holds two kinds of dead memory:

- reference cycles: each closed client connection leaves uvicorn's protocol, its request
  cycle, flow control and transport referring to each other (~5 KiB with their buffers).
  Only the cycle collector frees them, and the gateway runs it rarely (`tune_gc`: young
  collections every 10,000 allocations, start-up objects frozen), so they wait;
- C heap: glibc keeps what is freed in the middle of its heap (bodies, buffers, frames
  over 512 bytes: what pymalloc hands to malloc); `malloc_trim(0)` gives the free pages
  back to the OS (glibc only: elsewhere there is no such call and nothing is trimmed).

`BurstTrim` does both once a burst is over: when no request is in flight any more after
at least `BURST` were at once; at most once every `GAP` seconds, so a load that keeps
coming and going is not collected over and over (a gateway that stays busy never is). Measured after 1,000 concurrent streams: ~20,000 objects
collected (921 closed connections), RSS 82 -> 79 MiB; a few milliseconds each time.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable

__all__ = ["BURST", "GAP", "BurstTrim", "malloc_trim"]

BURST = 256   # requests in flight at once that make a burst worth cleaning up after
GAP = 5.0     # seconds at least between two clean-ups


def _load_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim   # type: ignore[no-any-return]
    except (OSError, AttributeError):   # not glibc (musl has no malloc_trim)
        return None


_TRIM = _load_malloc_trim()


def malloc_trim() -> bool:
    """Give the free pages of the C heap back to the OS; False where there is no such call."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class BurstTrim:
    """Told of every request starting and ending (with the count then in flight); cleans
    up once a burst is over."""

    __slots__ = ("_high", "_last", "burst", "done")

    def __init__(self, burst: int = BURST) -> None:
        self.burst = burst
        self._high = 0       # the most in flight at once since in flight was last 0
        self._last = float("-inf")
        self.done = 0        # clean-ups so far

    def rose(self, inflight: int) -> None:
        if inflight > self._high:
            self._high = inflight

    def fell(self, inflight: int) -> None:
        if inflight or self._high < self.burst:
            return
        self._high = 0
        now = time.monotonic()
        if now - self._last < GAP:
            return
        self._last = now
        self.done += 1
        gc.collect()
        malloc_trim()
