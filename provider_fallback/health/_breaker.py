"""Circuit breaker transitions as pure functions over a `Circuit` record.

The record lives in the routing state (memory or Redis); `Breaker` holds only the policy.
Every state change (open, half-open, close) and every trial lease increments the circuit's
`generation`. An attempt records the generation it was admitted at; its outcome changes
the state only if the circuit is still at that generation, otherwise it is statistics only.
So a late answer to a request admitted before the circuit opened never closes it, and only
the half-open trial's own outcome closes or re-opens it.

closed    --failure_threshold in a row | failure rate | a one-strike code--> open
open      --open period over, a request comes--> half_open (that request is the trial)
open      --a probe that disproves the failure--> half_open (no trial in flight yet)
half_open --the trial succeeds--> closed;  --the trial fails--> open, for longer
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import CircuitSettings
from ..errors import CircuitRule, OpenClass, Strike

__all__ = ["Breaker", "Circuit", "CircuitState", "RollingWindow"]

BUCKETS = 10


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class RollingWindow:
    """Calls, failures and slow calls over the last `span` seconds in fixed buckets: O(1).

    `totals` is read on every answer (the slow-call rate) and on failures (the failure
    rate): its sums are kept for the bucket they were taken in and moved along by `add`,
    so only the first read in a new bucket walks the buckets."""

    span: float
    calls: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    failures: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    slow: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    epochs: list[int] = field(default_factory=lambda: [-1] * BUCKETS)
    # the sums as of bucket `_at` (-1: none taken since the last add to another bucket)
    _at: int = field(default=-1, repr=False, compare=False)
    _sums: list[int] = field(default_factory=lambda: [0, 0, 0], repr=False, compare=False)

    def add(self, now: float, *, failed: bool, slow: bool = False) -> None:
        epoch = int(now / (self.span / BUCKETS))
        i = epoch % BUCKETS
        if self.epochs[i] != epoch:
            # an older bucket's slot: outside the span of any sums taken at `epoch`
            self.epochs[i] = epoch
            self.calls[i] = self.failures[i] = self.slow[i] = 0
        self.calls[i] += 1
        self.failures[i] += failed
        self.slow[i] += slow
        if self._at == epoch:
            sums = self._sums
            sums[0] += 1
            sums[1] += failed
            sums[2] += slow
        else:
            self._at = -1

    def totals(self, now: float) -> tuple[int, int, int]:
        epoch = int(now / (self.span / BUCKETS))
        sums = self._sums
        if self._at != epoch:
            oldest = epoch - BUCKETS + 1
            c = f = s = 0
            for i in range(BUCKETS):
                if self.epochs[i] >= oldest:
                    c += self.calls[i]
                    f += self.failures[i]
                    s += self.slow[i]
            sums[0], sums[1], sums[2] = c, f, s
            self._at = epoch
        return sums[0], sums[1], sums[2]


@dataclass(slots=True)
class Circuit:
    key: str
    window: RollingWindow
    state: CircuitState = CircuitState.CLOSED
    generation: int = 0            # +1 on every state change and trial lease (shared with peers)
    open_until: float = 0.0
    opened_at: float = 0.0         # start of the current outage (monotonic)
    changed_at: float = 0.0        # last state change: a probe older than this proves nothing
    closed_at: float = 0.0         # last close after an outage (0: none, or restored by hand)
    reopens: int = 0               # growth step of the current (or last) open period
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

    # -- admission --------------------------------------------------------------------
    @staticmethod
    def blocked(c: Circuit, now: float) -> tuple[str, float] | None:
        """("circuit_open" | "trial_in_flight", until) if `c` lets nothing through now."""
        if c.state is CircuitState.OPEN and now < c.open_until:
            return "circuit_open", c.open_until
        if c.state is CircuitState.HALF_OPEN and c.trial_until > now:
            return "trial_in_flight", c.trial_until
        return None

    @staticmethod
    def take_trial(c: Circuit, now: float, lease: float) -> bool:
        """Lease the half-open trial of a circuit that is not closed and not blocked (an open
        period that is over, or half-open with no trial in flight) for `lease` seconds.
        True if this moved it from open to half-open."""
        was_open = c.state is CircuitState.OPEN
        c.state = CircuitState.HALF_OPEN
        c.trial_until = now + lease
        c.generation += 1
        if was_open:
            c.changed_at = now
        return was_open

    @staticmethod
    def give_back(c: Circuit, generation: int | None) -> bool:
        """Free a trial lease whose attempt was never sent or proved nothing."""
        if c.state is CircuitState.HALF_OPEN and c.generation == generation and c.trial_until:
            c.trial_until = 0.0
            return True
        return False

    # -- outcomes ---------------------------------------------------------------------
    def on_success(self, c: Circuit, now: float, generation: int | None, *, trial: bool,
                   slow: bool = False) -> bool:
        """Record a success; True if it closed the circuit (only the current trial can)."""
        c.window.add(now, failed=False, slow=slow)
        if generation != c.generation:
            return False            # admitted under another generation: statistics only
        if c.state is CircuitState.CLOSED:
            c.consecutive = 0
            return False
        if c.state is CircuitState.HALF_OPEN and trial:
            self._close(c, now)
            return True
        return False                # a bypass attempt of an open circuit: statistics only

    def on_failure(self, c: Circuit, now: float, generation: int | None, *, rule: CircuitRule,
                   base: float, retry_after: float | None, alternatives: bool, trial: bool,
                   bypass: bool = False) -> bool:
        """Record a failure; True if it (re)opened the circuit."""
        c.window.add(now, failed=True)
        if generation != c.generation:
            return False            # admitted under another generation: statistics only
        if c.state is CircuitState.HALF_OPEN:
            if not trial:
                return False
            c.reopens += 1
            self._open(c, now, rule, base, retry_after)
            return True
        if c.state is CircuitState.OPEN:
            # a bypass attempt failed while open: keep it open at least as long as told
            if retry_after is not None and now + retry_after > c.open_until:
                c.open_until = now + retry_after
            return False
        c.consecutive += 1
        if bypass:
            return False
        s = self.settings
        calls, failures, _ = c.window.totals(now)
        calls += c.peer_calls              # the failure rate is judged over every replica
        failures += c.peer_failures
        if (rule.strike is Strike.AT_ONCE
                or (rule.strike is Strike.ONE_IF_ALTERNATIVE and alternatives)
                or c.consecutive >= s.failure_threshold
                or (calls >= s.min_calls and failures / calls >= s.failure_rate)):
            c.opened_at = now
            c.reopens = self._step_after_close(c, now)
            self._open(c, now, rule, base, retry_after)
            return True
        return False

    def _step_after_close(self, c: Circuit, now: float) -> int:
        """A circuit that opens again within `reopen_decay` of closing re-opens (its open
        period keeps growing: a flapping target); one that stayed closed longer starts over."""
        if c.closed_at <= 0 or now - c.closed_at >= self.settings.reopen_decay:
            return 0
        return c.reopens + 1

    # -- probes and manual control ------------------------------------------------------
    @staticmethod
    def probe_half_open(c: Circuit, now: float) -> bool:
        """A probe disproved the failure: open -> half-open, the next attempt is the trial.
        Never closes, never undoes the growth of the open period."""
        if c.state is not CircuitState.OPEN:
            return False
        c.state = CircuitState.HALF_OPEN
        c.trial_until = 0.0
        c.generation += 1
        c.changed_at = now
        return True

    @staticmethod
    def reset(c: Circuit, now: float) -> None:
        """Close by hand (admin restore): the growth is forgotten too."""
        c.state = CircuitState.CLOSED
        c.generation += 1
        c.changed_at = now
        c.closed_at = 0.0
        c.reopens = c.consecutive = 0
        c.trial_until = c.open_until = 0.0

    # -- open periods -------------------------------------------------------------------
    def duration(self, rule: CircuitRule, base: float, step: int,
                 retry_after: float | None) -> float:
        """Open period: an advertised Retry-After exactly, else base x multiplier^step,
        capped (transient failures at `transient_max_open` when they cost a timer, else at
        `fast_max_open`; the others at `max_open`, but never below the code's own base),
        lengthened by up to `jitter` so replicas don't probe in lockstep; never shortened:
        the period said is the least a circuit stays open (a target down for 6 s with a
        5 s period gets its trial after it is back, not at 4.5 s, which would re-open it
        for the doubled period)."""
        if retry_after is not None:
            return retry_after
        s = self.settings
        if rule.open_class is OpenClass.TRANSIENT:
            cap = s.transient_max_open if rule.timer else s.fast_max_open
        else:
            cap = s.max_open
        d = min(max(cap, base), base * (s.multiplier ** min(step, 64)))
        return max(0.0, d * (1 + s.jitter * self._rand()))

    def base(self, open_class: OpenClass, registry_cooldown: float) -> float:
        """The first open period of a class when the config sets none for the code."""
        if open_class is OpenClass.TRANSIENT:
            return self.settings.transient_open
        return registry_cooldown

    def _open(self, c: Circuit, now: float, rule: CircuitRule, base: float,
              retry_after: float | None) -> None:
        c.state = CircuitState.OPEN
        c.generation += 1
        c.changed_at = now
        c.trial_until = 0.0
        c.open_until = now + self.duration(rule, base, c.reopens, retry_after)

    @staticmethod
    def _close(c: Circuit, now: float) -> None:
        c.state = CircuitState.CLOSED
        c.generation += 1
        c.changed_at = c.closed_at = now
        c.consecutive = 0
        c.trial_until = c.open_until = 0.0
