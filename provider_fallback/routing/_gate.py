"""Where a request waits for a pooled connection to its provider: the pool's only limit.

A request waits at its provider's gate (a count of `max_connections` and a queue of
waiters) before anything of the upstream request is built, holding only its own route,
one future and one timer: 1,000 client connections against a pool of 100 leave 900
waiting, and what they hold stays as the process's high-water mark. The pool behind it
(`providers/_http1.py`) never waits: it reuses an idle connection or opens one.

A slot is taken before the request and given back when its answer is released or its
connection closed (`Response.on_release`; an answer dropped unreleased closes itself).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from typing import Any

from .._loop import running_loop
from ..config import Target
from ..errors import UpstreamError
from ..providers._client import pool_exhausted

__all__ = ["PoolGates", "Slot"]

# a waiter's timer needs none of the request's context variables: no copy of them
_NO_CONTEXT = contextvars.Context()


class _Gate:
    """A provider's free connections and the requests waiting for one (oldest first).
    Nobody waits while one is free: a slot given back goes to the oldest live waiter."""

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future[Slot]] = deque()

    def give(self) -> None:
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():   # not timed out, not cancelled
                waiter.set_result(Slot(self))
                return
        self.free += 1


class Slot:
    """One pooled connection's worth of a provider's gate; given back once."""

    __slots__ = ("_gate",)

    def __init__(self, gate: _Gate) -> None:
        self._gate: _Gate | None = gate

    def __call__(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.give()

    def hold(self, resp: Any) -> None:
        """Keep the slot until `resp`'s connection is released or closed."""
        resp.on_release(self)


def _expire(waiter: asyncio.Future[Slot], target: Target, waited: float) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamError(pool_exhausted(target, waited)))


class PoolGates:
    """One gate per provider, sized to its pool (`max_connections`)."""

    def __init__(self) -> None:
        self._gates: dict[str, _Gate] = {}

    def take(self, target: Target) -> Slot | None:
        """A free slot of `target`'s provider, or None: then `wait` for one."""
        provider = target.provider
        gate = self._gates.get(provider.name)
        if gate is None:
            gate = self._gates[provider.name] = _Gate(provider.max_connections)
        if gate.free > 0:
            gate.free -= 1
            return Slot(gate)
        return None

    async def wait(self, target: Target, wait: float, waited: float) -> Slot:
        """The next slot given back, waiting at most `wait` seconds. Past that:
        gateway_overloaded (the gateway's own limit, `waited` the figure its message
        gives), never the provider's fault. (Call after `take` said None.)"""
        gate = self._gates[target.provider.name]
        loop = running_loop()
        waiter: asyncio.Future[Slot] = loop.create_future()
        gate.waiters.append(waiter)
        timer = loop.call_at(loop.time() + wait, _expire, waiter, target, waited,
                             context=_NO_CONTEXT)
        try:
            return await waiter
        except BaseException:
            # cancelled just as a slot (or the timeout) came: give the slot back
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                waiter.result()()
            raise
        finally:
            timer.cancel()
