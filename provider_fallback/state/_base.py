"""The routing-state interface. The router only talks to this; backends live beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Cooldown", "RoutingState", "TargetStats"]


@dataclass(slots=True)
class Cooldown:
    until: float   # monotonic clock
    code: str      # registry code that caused it


@dataclass(slots=True)
class TargetStats:
    """What the request path reports about one target (bounded memory)."""

    successes: int = 0
    failures: int = 0
    last_code: str | None = None
    last_success: float | None = None   # wall clock (time.time)
    last_failure: float | None = None
    latency_ms: list[float] = field(default_factory=list)  # ring of the last N, see MemoryState

    def latency_percentile(self, q: float) -> float | None:
        if not self.latency_ms:
            return None
        ordered = sorted(self.latency_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class RoutingState(Protocol):
    """Cooldowns and attempt history, keyed by target key ("provider/model") or provider name.

    Reads are synchronous and cheap (the request path calls them per attempt); a shared
    backend serves them from a local cache and publishes writes in the background.
    """

    def cooldown(self, key: str, now: float) -> Cooldown | None:
        """The active cooldown of `key`, or None if none is active at `now`."""
        ...

    def set_cooldown(self, key: str, until: float, code: str) -> None: ...

    def clear_cooldown(self, key: str) -> None: ...

    def record(self, target_key: str, *, ok: bool, code: str, ms: float, wall: float) -> None:
        """Report one attempt's outcome."""
        ...

    def stats(self, target_key: str) -> TargetStats | None: ...

    def cooldowns(self, now: float) -> dict[str, Cooldown]:
        """Every active cooldown (for status pages)."""
        ...
