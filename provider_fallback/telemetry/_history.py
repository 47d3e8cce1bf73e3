"""The last hour in fixed time buckets, for the dashboard's latency and fallback charts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ._events import Event
from ._records import RequestRecord

__all__ = ["History"]


class History:
    """`span` seconds in buckets of `step` seconds: requests, failures, fallbacks, latency."""

    def __init__(self, span: float = 3600.0, step: float = 10.0, *,
                 wall: Callable[[], float] = time.time) -> None:
        self.step = step
        self.n = int(span // step)
        self._wall = wall
        self._epoch = [-1] * self.n
        self._requests = [0] * self.n
        self._failed = [0] * self.n
        self._fallbacks = [0] * self.n
        self._latency = [0.0] * self.n

    def _slot(self, ts: float) -> int:
        epoch = int(ts // self.step)
        i = epoch % self.n
        if self._epoch[i] != epoch:
            self._epoch[i] = epoch
            self._requests[i] = self._failed[i] = self._fallbacks[i] = 0
            self._latency[i] = 0.0
        return i

    def on_request(self, rec: RequestRecord) -> None:
        i = self._slot(self._wall())
        self._requests[i] += 1
        self._latency[i] += rec.latency_ms
        if rec.outcome != "ok":
            self._failed[i] += 1

    def on_event(self, event: Event) -> None:
        if event.type == "FALLBACK":
            self._fallbacks[self._slot(event.ts)] += 1

    def series(self) -> dict[str, Any]:
        """Oldest first: t (bucket start), requests, failed, fallbacks, mean latency ms."""
        now_epoch = int(self._wall() // self.step)
        out: dict[str, list[Any]] = {"t": [], "requests": [], "failed": [], "fallbacks": [],
                                     "latency_ms": []}
        for epoch in range(now_epoch - self.n + 1, now_epoch + 1):
            i = epoch % self.n
            fresh = self._epoch[i] == epoch
            n = self._requests[i] if fresh else 0
            out["t"].append(epoch * self.step)
            out["requests"].append(n)
            out["failed"].append(self._failed[i] if fresh else 0)
            out["fallbacks"].append(self._fallbacks[i] if fresh else 0)
            out["latency_ms"].append(round(self._latency[i] / n, 2) if n else None)
        return {"step_s": self.step, **out}
