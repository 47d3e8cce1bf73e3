"""Where a request waits for a pooled connection to its provider: before aiohttp.

aiohttp would make a request wait for a free pooled connection inside its own request
machinery, every object of the request already built (its ClientRequest, headers, cookie
jar view, timers and a dozen coroutine frames: ~8 KiB a request). Under a burst that is
most requests: 1,000 client connections against a pool of 100 leave 900 waiting, and what
they held stays as the process's high-water mark. Here the wait is a semaphore of the
provider's `max_connections`: a waiting request holds only its own route.

A slot is taken before the request and given back when its connection is released or
closed (aiohttp's connection callbacks; a response dropped unreleased is released by
aiohttp itself, which calls them too). aiohttp's own limit stays in place behind it: a
connection the health probes hold still makes a request wait there, as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..config import Target
from ..errors import UpstreamError
from ..providers._client import _pool_exhausted

__all__ = ["PoolGates", "Slot"]


class Slot:
    """One pooled connection's worth of a provider's gate; given back once."""

    __slots__ = ("_gate",)

    def __init__(self, gate: asyncio.Semaphore) -> None:
        self._gate: asyncio.Semaphore | None = gate

    def __call__(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.release()

    def hold(self, resp: Any) -> None:
        """Keep the slot until `resp`'s connection is released or closed."""
        connection = resp.connection
        if connection is None:   # already back in the pool (the whole body was read)
            self()
        else:
            connection.add_callback(self)


class PoolGates:
    """One gate per provider, sized to its pool (`max_connections`)."""

    def __init__(self) -> None:
        self._gates: dict[str, asyncio.Semaphore] = {}

    async def enter(self, target: Target, wait: float, waited: float) -> tuple[Slot, bool]:
        """A slot of `target`'s provider, waiting at most `wait` seconds for one; and
        whether it had to wait. Past `wait`: gateway_overloaded (the gateway's own limit,
        `waited` the figure its message gives), never the provider's fault."""
        provider = target.provider
        gate = self._gates.get(provider.name)
        if gate is None:
            gate = self._gates[provider.name] = asyncio.Semaphore(provider.max_connections)
        if not gate.locked():
            await gate.acquire()   # a slot is free: returns without suspending
            return Slot(gate), False
        try:
            async with asyncio.timeout(wait):
                await gate.acquire()
        except TimeoutError:
            raise UpstreamError(_pool_exhausted(target, waited)) from None
        return Slot(gate), True
