"""Shared per-minute windows (requests, and tokens in units), paid for in batches.

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

A token window works the same way with permits of `unit` tokens each (`token_unit`: 1/200
of the limit, rounded up): a request takes as many as its estimate needs, all at once or
none; what its answer did not use goes back (`ZREM`), and what it used beyond the estimate
is added with the next call for that window.
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

__all__ = ["BATCH", "PERMIT_VALIDITY", "TOKEN_UNITS", "PermitBatcher", "token_unit"]

PERMIT_VALIDITY = 1.0   # seconds an unspent permit stays usable locally
BATCH = 5               # permits per call, unless the limit is small or more are waiting
TOKEN_UNITS = 200       # a token window is counted in this many permits


def token_unit(tpm: int) -> int:
    """Tokens per permit in a window of `tpm` tokens."""
    return max(1, math.ceil(tpm / TOKEN_UNITS))


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
        self.owed: dict[str, int] = {}                   # redis key -> used beyond permits
        # permits spent per key: (start of the current validity period, spent in the
        # previous one, spent in this one); sizes batches to this replica's own pace
        self._pace: dict[str, tuple[float, int, int]] = {}

    def _take(self, rkey: str, now: float, need: int = 1) -> list[str] | None:
        """Spend `need` valid permits from the stock (expired ones go back), or none."""
        stock = self._stock.get(rkey)
        while stock and stock[0][0] <= now:
            self.returns.setdefault(rkey, []).append(stock.popleft()[1])
        if not stock or len(stock) < need:
            return None
        taken = [stock.popleft()[1] for _ in range(need)]
        self._spent(rkey, now, need)
        return taken

    def _spent(self, rkey: str, now: float, n: int = 1) -> None:
        start, prev, cur = self._pace.get(rkey, (now, 0, 0))
        if now - start >= self.validity:
            prev = cur if now - start < 2 * self.validity else 0
            start, cur = now, 0
        self._pace[rkey] = (start, prev, cur + n)

    def batch_size(self, rkey: str, limit: int, demand: int) -> int:
        """Permits to ask for: enough for a quarter of what this replica spent in the last
        validity period (so a busy replica calls Redis ~4 times per period, not once per
        few requests), at least BATCH or the permits waiting, never more than 5% of the
        limit per call (so replicas share a tight limit fairly) unless one request needs
        more, at least 1."""
        pace = self._pace.get(rkey)
        recent = pace[1] // 4 if pace is not None else 0
        return max(1, min(math.ceil(limit / 20), max(BATCH, demand, recent)))

    def give_back(self, rkey: str, members: list[str]) -> None:
        """Permits taken but not used (an answer smaller than its estimate)."""
        if members:
            self.returns.setdefault(rkey, []).extend(members)

    def owe(self, rkey: str, n: int) -> None:
        """`n` permits used without being taken: added with the next call for `rkey`."""
        if n > 0:
            self.owed[rkey] = self.owed.get(rkey, 0) + n

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
                    timeout: float, sent: int = 0) -> float | None:
        """None if a permit was spent, else seconds until one frees. `sent`: requests this
        replica sent without a permit earlier in the window (the limit was not known yet),
        added to the window first. Raises what Redis raised (the caller falls back to
        local state)."""
        if sent > 0:
            self.owe(rkey, sent)
        wait, _ = await self.take(redis, rkey, limit, window, timeout)
        return wait

    async def take(self, redis: aioredis.Redis, rkey: str, limit: int, window: float,
                   timeout: float, need: int = 1) -> tuple[float | None, list[str]]:
        """(None, the permits) once `need` permits are spent; (seconds until that many
        free, []) if the window has no room. Raises what Redis raised."""
        if need > limit:
            return math.inf, []
        while True:
            if not self.owed.get(rkey):
                taken = self._take(rkey, self._clock(), need)
                if taken is not None:
                    return None, taken
            refill = self._refills.get(rkey)
            if refill is not None and refill.done():
                refill = None   # finished, its permits already spent: awaiting it would spin
            if refill is None:
                demand = self._waiting.get(rkey, 0) + need
                want = max(need, self.batch_size(rkey, limit, demand))
                refill = asyncio.ensure_future(self._refill(redis, rkey, limit, window,
                                                            want, timeout, need))
                self._refills[rkey] = refill
                refill.add_done_callback(lambda f, k=rkey: self._forget(k, f))
            self._waiting[rkey] = self._waiting.get(rkey, 0) + need
            try:
                wait = await asyncio.shield(refill)
            finally:
                self._waiting[rkey] -= need
            if wait is not None:
                return wait, []

    def _forget(self, rkey: str, fut: asyncio.Future[Any]) -> None:
        if self._refills.get(rkey) is fut:
            del self._refills[rkey]
        if not fut.cancelled():
            with contextlib.suppress(BaseException):
                fut.exception()   # retrieved here so an unawaited failure is not logged

    async def _refill(self, redis: aioredis.Redis, rkey: str, limit: int, window: float,
                      want: int, timeout: float, need: int = 1) -> float | None:
        expiry = self._clock() + self.validity   # from before Redis granted them
        token = f"{self.replica}:{next(self._ids)}"
        owed = self.owed.pop(rkey, 0)
        self.calls += 1
        try:
            async with asyncio.timeout(timeout):
                got = int(await redis.eval(TAKE_PERMITS_LUA, 1, rkey, int(window * 1000),
                                           limit, token, want, int(self.validity * 1000),
                                           owed, need))
        except BaseException:
            self.owe(rkey, owed)
            raise
        if got < 0:
            return -got / 1000
        stock = self._stock.setdefault(rkey, deque())
        stock.extend((expiry, f"{token}:{i}") for i in range(1, got + 1))
        return None
