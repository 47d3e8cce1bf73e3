"""Circuit breaker transitions as pure functions over a `Circuit` record.

The record lives in the routing state (memory or Redis); `Breaker` holds only the policy.
closed --(N consecutive failures | failure rate | an immediate-trip code)--> open
        (with a shared state the failure rate counts every replica's calls)
open   --(open period over)--> half_open: exactly one trial is leased at a time
half_open --success--> closed;  --failure--> open again, for longer (x multiplier, capped)
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import CircuitSettings

__all__ = ["Breaker", "Circuit", "CircuitState", "RollingWindow"]

BUCKETS = 10


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class RollingWindow:
    """Calls, failures and slow calls over the last `span` seconds in fixed buckets: O(1)."""

    span: float
    calls: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    failures: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    slow: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    epochs: list[int] = field(default_factory=lambda: [-1] * BUCKETS)

    def _slot(self, now: float) -> int:
        epoch = int(now / (self.span / BUCKETS))
        i = epoch % BUCKETS
        if self.epochs[i] != epoch:
            self.epochs[i] = epoch
            self.calls[i] = self.failures[i] = self.slow[i] = 0
        return i

    def add(self, now: float, *, failed: bool, slow: bool = False) -> None:
        i = self._slot(now)
        self.calls[i] += 1
        self.failures[i] += failed
        self.slow[i] += slow

    def totals(self, now: float) -> tuple[int, int, int]:
        oldest = int(now / (self.span / BUCKETS)) - BUCKETS + 1
        c = f = s = 0
        for i in range(BUCKETS):
            if self.epochs[i] >= oldest:
                c += self.calls[i]
                f += self.failures[i]
                s += self.slow[i]
        return c, f, s


@dataclass(slots=True)
class Circuit:
    key: str
    window: RollingWindow
    state: CircuitState = CircuitState.CLOSED
    open_until: float = 0.0
    opened_at: float = 0.0         # start of the current outage (monotonic)
    reopens: int = 0               # consecutive re-opens, drives the growing open period
    consecutive: int = 0
    code: str | None = None        # what opened it
    trial_until: float = 0.0       # half-open trial lease expiry; 0 = none leased
    # other replicas' calls and failures in their own windows (a shared state sets them)
    peer_calls: int = 0
    peer_failures: int = 0

    def is_open(self, now: float) -> bool:
        """True while no request may pass (open period, or a trial already in flight)."""
        if self.state is CircuitState.OPEN:
            return now < self.open_until
        if self.state is CircuitState.HALF_OPEN:
            return self.trial_until > now
        return False


class Breaker:
    """The policy half of a circuit breaker; all state is in the `Circuit` passed in."""

    def __init__(self, settings: CircuitSettings, rand: Callable[[], float]) -> None:
        self.settings = settings
        self._rand = rand

    def new(self, key: str) -> Circuit:
        return Circuit(key, RollingWindow(self.settings.window))

    def admit(self, c: Circuit, now: float, lease: float) -> str | None:
        """None if the circuit lets a request through now; "trial" if it is the half-open trial
        (a lease of `lease` seconds is taken); "open" if it must be skipped."""
        if c.state is CircuitState.CLOSED:
            return None
        if c.is_open(now):
            return "open"
        c.state = CircuitState.HALF_OPEN
        c.trial_until = now + lease
        return "trial"

    def on_success(self, c: Circuit, now: float, *, slow: bool = False) -> bool:
        """Record a success; True if it closed the circuit."""
        c.window.add(now, failed=False, slow=slow)
        c.consecutive = 0
        if c.state is CircuitState.CLOSED:
            return False
        c.state = CircuitState.CLOSED
        c.reopens = 0
        c.trial_until = 0.0
        c.open_until = 0.0
        return True

    def on_failure(self, c: Circuit, now: float, *, base: float, retry_after: float | None,
                   immediate: bool) -> bool:
        """Record a failure; True if it (re)opened the circuit."""
        c.window.add(now, failed=True)
        c.consecutive += 1
        if c.state is CircuitState.HALF_OPEN:
            c.reopens += 1
            self._open(c, now, base, retry_after)
            return True
        if c.state is CircuitState.OPEN:
            # a bypass attempt failed while open: keep it open at least as long as told
            if retry_after is not None:
                c.open_until = max(c.open_until, now + retry_after)
            return False
        s = self.settings
        calls, failures, _ = c.window.totals(now)
        calls += c.peer_calls              # the failure rate is judged over every replica
        failures += c.peer_failures
        if immediate or c.consecutive >= s.failure_threshold or (
                calls >= s.min_calls and failures / calls >= s.failure_rate):
            c.opened_at = now
            c.reopens = 0
            self._open(c, now, base, retry_after)
            return True
        return False

    def duration(self, base: float, reopens: int, retry_after: float | None) -> float:
        """Open period: the advertised Retry-After exactly, else base x multiplier^reopens,
        capped, with +-jitter so replicas don't probe in lockstep."""
        if retry_after is not None:
            return retry_after
        s = self.settings
        # growth is capped at max_open, but never below the code's own base cooldown (402: 1 h)
        d = min(max(s.max_open, base), base * (s.multiplier ** reopens))
        return max(0.0, d * (1 + s.jitter * (2 * self._rand() - 1)))

    def _open(self, c: Circuit, now: float, base: float, retry_after: float | None) -> None:
        c.state = CircuitState.OPEN
        c.trial_until = 0.0
        c.open_until = now + self.duration(base, c.reopens, retry_after)

    @staticmethod
    def expire_now(c: Circuit, now: float) -> bool:
        """Cut an open period short (a probe saw the provider come back); True if changed."""
        if c.state is CircuitState.OPEN and c.open_until > now:
            c.open_until = now
            return True
        return False
