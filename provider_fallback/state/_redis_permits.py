"""Shared per-minute windows (requests, tokens), paid for in batches.

Asking Redis once per attempt costs a round trip on the request path. Instead a replica
takes a batch of credit from the shared window in one Lua call and spends it locally: for
a request window one unit per request, for a token window the request's estimate. The
batch is a quarter of what this replica spent in the last second, at least 5 requests'
worth or what the waiting requests need, at most 5% of the limit unless one request needs
more.

Credit is valid for `validity` (1 s) from before the call that took it; credit not spent by
then is dropped and handed back in the background. In Redis the window is a hash of
1-second buckets, and credit is counted in the bucket of the last moment it may be spent,
so across all replicas no `window` of real sends holds more than `limit` (the window is
effectively `window + validity + 1 s` for capacity, i.e. up to ~3% fewer requests per
minute at 60 s, never more).

A token answer that used less than its estimate hands the rest back (`give_back`); one
that used more owes the difference, added with the next call for that window (`owe`), as
are requests sent before the window's limit was known.

Concurrent requests for the same key share one Lua call in flight instead of each
starting their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._redis_scripts import RETURN_CREDIT_LUA, TAKE_CREDIT_LUA

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["BATCH", "PERMIT_VALIDITY", "Hold", "PermitBatcher"]

PERMIT_VALIDITY = 1.0   # seconds unspent credit stays usable locally
BATCH = 5               # least credit per call, unless the limit is small

Hold = tuple[str, list[list[int]]]   # (redis key, [[bucket, amount], ...]) one attempt took


class PermitBatcher:
    """Local stock of credit per shared window; refilled from Redis in batches."""

    def __init__(self, replica: str, *, validity: float = PERMIT_VALIDITY,
                 clock: Callable[[], float]) -> None:
        self.replica = replica
        self.validity = validity
        self.calls = 0                                   # Lua round trips, for the benchmark
        self._clock = clock
        # redis key -> [expiry, bucket, amount left] per batch taken, oldest first
        self._stock: dict[str, deque[list[Any]]] = {}
        self._refills: dict[str, asyncio.Future[float | None]] = {}
        self._waiting: dict[str, int] = {}
        self.returns: dict[str, dict[int, int]] = {}     # redis key -> bucket -> to give back
        self.owed: dict[str, int] = {}                   # redis key -> used without credit
        # spent per key: (start of the current validity period, spent in the previous one,
        # spent in this one); sizes batches to this replica's own pace
        self._pace: dict[str, tuple[float, int, int]] = {}

    # -- local bookkeeping ------------------------------------------------------------------
    def _expire(self, rkey: str, stock: deque[list[Any]], now: float) -> None:
        while stock and stock[0][0] <= now:
            _, bucket, left = stock.popleft()
            if left:
                self._return(rkey, bucket, left)

    def _return(self, rkey: str, bucket: int, amount: int) -> None:
        back = self.returns.setdefault(rkey, {})
        back[bucket] = back.get(bucket, 0) + amount

    def _take(self, rkey: str, now: float, need: int) -> Hold | None:
        """Spend `need` from valid stock (expired credit goes back), or nothing."""
        stock = self._stock.get(rkey)
        if not stock:
            return None
        self._expire(rkey, stock, now)
        if sum(entry[2] for entry in stock) < need:
            return None
        pieces: list[list[int]] = []
        left = need
        while left:
            entry = stock[0]
            n = min(left, entry[2])
            entry[2] -= n
            left -= n
            pieces.append([entry[1], n])
            if not entry[2]:
                stock.popleft()
        self._spent(rkey, now, need)
        return rkey, pieces

    def _spent(self, rkey: str, now: float, n: int) -> None:
        start, prev, cur = self._pace.get(rkey, (now, 0, 0))
        if now - start >= self.validity:
            prev = cur if now - start < 2 * self.validity else 0
            start, cur = now, 0
        self._pace[rkey] = (start, prev, cur + n)

    def batch_size(self, rkey: str, limit: int, demand: int, need: int = 1) -> int:
        """Credit to ask for: a quarter of what this replica spent in the last validity
        period (so a busy replica calls Redis ~4 times per period, not once per few
        requests), at least BATCH requests' worth (`need` each) or what is waiting, at most
        5% of the limit per call (so replicas share a tight limit fairly), and never less
        than `demand`."""
        pace = self._pace.get(rkey)
        recent = pace[1] // 4 if pace is not None else 0
        return max(demand, 1, min(math.ceil(limit / 20), max(BATCH * need, demand, recent)))

    def give_back(self, hold: Hold, amount: int) -> None:
        """`amount` of what `hold` took was not used (an answer below its estimate)."""
        rkey, pieces = hold
        for piece in reversed(pieces):
            if amount <= 0:
                break
            n = min(amount, piece[1])
            self._return(rkey, piece[0], n)
            piece[1] -= n
            amount -= n

    def owe(self, rkey: str, n: int) -> None:
        """`n` used without credit: added with the next call for `rkey`."""
        if n > 0:
            self.owed[rkey] = self.owed.get(rkey, 0) + n

    def sweep(self, now: float) -> bool:
        """Hand back expired credit; True if there is anything to return."""
        for rkey, stock in self._stock.items():
            self._expire(rkey, stock, now)
        return bool(self.returns)

    def release_all(self) -> None:
        """Hand back all unspent credit (on shutdown)."""
        for rkey, stock in self._stock.items():
            for _, bucket, left in stock:
                if left:
                    self._return(rkey, bucket, left)
            stock.clear()

    def queue_returns(self, pipe: Any) -> dict[str, dict[int, int]]:
        """Put the returns on `pipe`; what was queued (to restore if the pipe fails)."""
        returns, self.returns = self.returns, {}
        for rkey, buckets in returns.items():
            args = [x for bucket, n in buckets.items() for x in (bucket, n)]
            pipe.eval(RETURN_CREDIT_LUA, 1, rkey, *args)
        return returns

    def restore_returns(self, returns: dict[str, dict[int, int]]) -> None:
        for rkey, buckets in returns.items():
            for bucket, n in buckets.items():
                self._return(rkey, bucket, n)

    # -- the request path ---------------------------------------------------------------------
    async def admit(self, redis: aioredis.Redis, rkey: str, limit: int, window: float,
                    timeout: float, sent: int = 0) -> float | None:
        """One request: None if admitted, else seconds until one fits. `sent`: requests
        this replica sent without asking earlier in the window (the limit was not known
        yet), added first. Raises what Redis raised (the caller falls back to local state)."""
        self.owe(rkey, sent)
        wait, _ = await self.take(redis, rkey, limit, window, timeout)
        return wait

    async def take(self, redis: aioredis.Redis, rkey: str, limit: int, window: float,
                   timeout: float, need: int = 1) -> tuple[float | None, Hold | None]:
        """(None, what was taken) once `need` is spent; (seconds until it fits, None) if
        the window has no room. Raises what Redis raised."""
        need = max(1, need)
        if need > limit:
            return math.inf, None
        while True:
            if not self.owed.get(rkey):
                taken = self._take(rkey, self._clock(), need)
                if taken is not None:
                    return None, taken
            refill = self._refills.get(rkey)
            if refill is not None and refill.done():
                refill = None   # finished, its credit already spent: awaiting it would spin
            if refill is None:
                demand = self._waiting.get(rkey, 0) + need
                want = self.batch_size(rkey, limit, demand, need)
                refill = asyncio.ensure_future(self._refill(redis, rkey, limit, window,
                                                            want, need, timeout))
                self._refills[rkey] = refill
                refill.add_done_callback(lambda f, k=rkey: self._forget(k, f))
            self._waiting[rkey] = self._waiting.get(rkey, 0) + need
            try:
                wait = await asyncio.shield(refill)
            finally:
                self._waiting[rkey] -= need
            if wait is not None:
                return wait, None

    def _forget(self, rkey: str, fut: asyncio.Future[Any]) -> None:
        if self._refills.get(rkey) is fut:
            del self._refills[rkey]
        if not fut.cancelled():
            with contextlib.suppress(BaseException):
                fut.exception()   # retrieved here so an unawaited failure is not logged

    async def _refill(self, redis: aioredis.Redis, rkey: str, limit: int, window: float,
                      want: int, need: int, timeout: float) -> float | None:
        expiry = self._clock() + self.validity   # from before Redis granted it
        owed = self.owed.pop(rkey, 0)
        self.calls += 1
        try:
            async with asyncio.timeout(timeout):
                got, where = await redis.eval(TAKE_CREDIT_LUA, 1, rkey, int(window * 1000),
                                              limit, want, need, int(self.validity * 1000),
                                              owed)
        except BaseException:
            self.owe(rkey, owed)
            raise
        if int(got) < 0:
            return int(where) / 1000
        self._stock.setdefault(rkey, deque()).append([expiry, int(where), int(got)])
        return None
