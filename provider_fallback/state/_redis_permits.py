"""Shared per-minute request windows, paid for in batches.

Asking Redis once per attempt costs a round trip on the request path. Instead a replica
takes a batch of permits from the shared window in one Lua call (`batch_size`: a quarter
of what it spent in the last second, at least 5 or the requests waiting, at most 5% of
the limit) and spends them locally.
A permit is valid for `validity` (1 s) from before the call that took it; one not spent by
then is dropped and handed back in the background. Each permit sits in the shared window
scored at the last moment it may be spent, so across all replicas no `window` of real
sends holds more than `limit` requests (the window is effectively `window + validity` for
capacity, i.e. up to ~1.7% fewer requests per minute at 60 s, and never more).

Concurrent requests for the same key share one Lua call in flight instead of each
starting their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._redis_scripts import TAKE_PERMITS_LUA

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["BATCH", "PERMIT_VALIDITY", "PermitBatcher"]

PERMIT_VALIDITY = 1.0   # seconds an unspent permit stays usable locally
BATCH = 5               # permits per call, unless the limit is small or more are waiting


class PermitBatcher:
    """Local stock of permits per shared window; refilled from Redis in batches."""

    def __init__(self, replica: str, *, validity: float = PERMIT_VALIDITY,
                 clock: Callable[[], float]) -> None:
        self.replica = replica
        self.validity = validity
        self.calls = 0                                   # Lua round trips, for the benchmark
        self._clock = clock
        self._ids = itertools.count(1)
        self._stock: dict[str, deque[tuple[float, str]]] = {}   # redis key -> (expiry, member)
        self._refills: dict[str, asyncio.Future[float | None]] = {}
        self._waiting: dict[str, int] = {}
        self.returns: dict[str, list[str]] = {}          # redis key -> unspent members to ZREM
        # permits spent per key: (start of the current validity period, spent in the
        # previous one, spent in this one); sizes batches to this replica's own pace
        self._pace: dict[str, tuple[float, int, int]] = {}

    def _take(self, rkey: str, now: float) -> bool:
        stock = self._stock.get(rkey)
        while stock:
            expiry, member = stock.popleft()
            if now < expiry:
                self._spent(rkey, now)
                return True
            self.returns.setdefault(rkey, []).append(member)
        return False

    def _spent(self, rkey: str, now: float) -> None:
        start, prev, cur = self._pace.get(rkey, (now, 0, 0))
        if now - start >= self.validity:
            prev = cur if now - start < 2 * self.validity else 0
            start, cur = now, 0
        self._pace[rkey] = (start, prev, cur + 1)

    def batch_size(self, rkey: str, limit: int, demand: int) -> int:
        """Permits to ask for: enough for a quarter of what this replica spent in the last
        validity period (so a busy replica calls Redis ~4 times per period, not once per
        few requests), at least BATCH or the requests waiting, never more than 5% of the
        limit per call (so replicas share a tight limit fairly), at least 1."""
        pace = self._pace.get(rkey)
        recent = pace[1] // 4 if pace is not None else 0
        return max(1, min(math.ceil(limit / 20), max(BATCH, demand, recent)))

    def sweep(self, now: float) -> bool:
        """Drop expired permits into `returns`; True if there is anything to return."""
        for rkey, stock in self._stock.items():
            while stock and stock[0][0] <= now:
                self.returns.setdefault(rkey, []).append(stock.popleft()[1])
        return bool(self.returns)

    def release_all(self) -> None:
        """Hand back every unspent permit (on shutdown)."""
        for rkey, stock in self._stock.items():
            self.returns.setdefault(rkey, []).extend(member for _, member in stock)
            stock.clear()

    async def admit(self, redis: aioredis.Redis, rkey: str, limit: int, window: float,
                    timeout: float) -> float | None:
        """None if a permit was spent, else seconds until one frees. Raises what Redis
        raised (the caller falls back to local state)."""
        while True:
            if self._take(rkey, self._clock()):
                return None
            refill = self._refills.get(rkey)
            if refill is not None and refill.done():
                refill = None   # finished, its permits already spent: awaiting it would spin
            if refill is None:
                demand = self._waiting.get(rkey, 0) + 1
                want = self.batch_size(rkey, limit, demand)
                refill = asyncio.ensure_future(self._refill(redis, rkey, limit, window,
                                                            want, timeout))
                self._refills[rkey] = refill
                refill.add_done_callback(lambda f, k=rkey: self._forget(k, f))
            self._waiting[rkey] = self._waiting.get(rkey, 0) + 1
            try:
                wait = await asyncio.shield(refill)
            finally:
                self._waiting[rkey] -= 1
            if wait is not None:
                return wait

    def _forget(self, rkey: str, fut: asyncio.Future[Any]) -> None:
        if self._refills.get(rkey) is fut:
            del self._refills[rkey]
        if not fut.cancelled():
            with contextlib.suppress(BaseException):
                fut.exception()   # retrieved here so an unawaited failure is not logged

    async def _refill(self, redis: aioredis.Redis, rkey: str, limit: int, window: float,
                      want: int, timeout: float) -> float | None:
        expiry = self._clock() + self.validity   # from before Redis granted them
        token = f"{self.replica}:{next(self._ids)}"
        self.calls += 1
        async with asyncio.timeout(timeout):
            got = int(await redis.eval(TAKE_PERMITS_LUA, 1, rkey, int(window * 1000), limit,
                                       token, want, int(self.validity * 1000)))
        if got < 0:
            return -got / 1000
        stock = self._stock.setdefault(rkey, deque())
        stock.extend((expiry, f"{token}:{i}") for i in range(1, got + 1))
        return None
