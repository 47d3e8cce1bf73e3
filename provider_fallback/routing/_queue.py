"""The retry queue: when every target of a chain is rate-limited, wait for capacity in a fair
FIFO per chain instead of failing, bounded in size and in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import QueueSettings
from ..errors import ProviderFallbackError

__all__ = ["ClientDisconnectedError", "QueueFullError", "WaitQueue"]


class QueueFullError(ProviderFallbackError):
    code = "queue_full"
    http_status = 429
    error_type = "rate_limit_error"

    def __init__(self, alias: str, size: int, retry_after: float) -> None:
        super().__init__(f"every target of '{alias}' is rate-limited and the wait queue is full "
                         f"({size} requests)",
                         resolution=("Retry after the Retry-After seconds",
                                     "Raise queue.size or add providers to the chain"))
        self.retry_after = retry_after


class ClientDisconnectedError(ProviderFallbackError):
    code = "client_disconnected"
    http_status = 499

    def __init__(self, alias: str) -> None:
        super().__init__(f"client disconnected while '{alias}' waited for rate-limit capacity",
                         resolution=("Nothing to do: no provider was called",))


class WaitQueue:
    """asyncio.Lock wakes waiters in FIFO order, so holding a per-chain lock while sleeping
    until capacity returns queues later requests fairly behind earlier ones."""

    def __init__(self, settings: QueueSettings, sleep: Callable[[float], Awaitable[Any]],
                 clock: Callable[[], float]) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._depth: dict[str, int] = {}
        self.total = 0

    def depth(self, alias: str | None = None) -> int:
        return self.total if alias is None else self._depth.get(alias, 0)

    def depths(self) -> dict[str, int]:
        return {a: d for a, d in self._depth.items() if d}

    def can_wait(self, wait: float, remaining: float) -> bool:
        s = self.settings
        return s.enabled and 0 <= wait <= s.max_wait and wait < remaining

    async def wait(self, alias: str, until: float,
                   disconnected: Callable[[], Awaitable[Any]] | None = None) -> bool:
        """Wait in line until `until` (monotonic, when capacity is expected back); False if
        the client went away meanwhile."""
        if self.total >= self.settings.size:
            raise QueueFullError(alias, self.settings.size, max(0.0, until - self._clock()))
        lock = self._locks.get(alias)
        if lock is None:
            lock = self._locks[alias] = asyncio.Lock()
        self.total += 1
        self._depth[alias] = self._depth.get(alias, 0) + 1
        try:
            async with lock:
                seconds = max(0.0, until - self._clock())
                if disconnected is None:
                    await self._sleep(seconds)
                    return True
                sleeper = asyncio.ensure_future(self._sleep(seconds))
                gone = asyncio.ensure_future(disconnected())
                done, pending = await asyncio.wait({sleeper, gone},
                                                   return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                return sleeper in done and gone not in done
        finally:
            self.total -= 1
            self._depth[alias] -= 1
