"""The routing-state interface. The router and health tracker only talk to this."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..health._breaker import Circuit
    from ..limits import LimitFacts

__all__ = ["Peers", "RoutingState", "TargetStats", "Usage"]

Usage = tuple[int, int, int, int]   # requests/min, requests/day, tokens/min, tokens/day


@dataclass(slots=True)
class TargetStats:
    """What the request path reports about one target (bounded memory)."""

    successes: int = 0
    failures: int = 0
    last_code: str | None = None
    last_success: float | None = None   # wall clock (time.time)
    last_failure: float | None = None
    latency_ms: list[float] = field(default_factory=list)  # total time, ring of the last N answers
    ring_pos: int = 0
    ttft_ms: list[float] = field(default_factory=list)     # streams: time to first token, ring
    ttft_pos: int = 0

    def latency_percentile(self, q: float) -> float | None:
        return _percentile(self.latency_ms, q)

    def ttft_percentile(self, q: float) -> float | None:
        return _percentile(self.ttft_ms, q)


def _percentile(ring: list[float], q: float) -> float | None:
    if not ring:
        return None
    ordered = sorted(ring)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Peers(Protocol):
    """The side of the process a shared state trades with the other replicas (the router's
    accounting implements it). Called from the state's background tasks, never the
    request path."""

    def own_usage(self) -> dict[str, Usage]:
        """This replica's rate-limit use per target key (non-zero ones only)."""
        ...

    def peer_usage(self, used: dict[str, Usage]) -> None:
        """The other live replicas' combined use per target key (absent: none)."""
        ...

    def peer_facts(self, target_key: str, facts: LimitFacts) -> None:
        """What another replica learned about a target's limits (see `share_limits`)."""
        ...

    def peer_spend(self) -> None:
        """The shared spend totals changed (read them with `spend_totals`)."""
        ...

    def peer_override(self, name: str, value: str | None) -> None:
        """Another replica changed a budget override (kill switch lifted, paid allowed)."""
        ...

    def spend_floor(self, wall: float) -> tuple[float, float]:
        """This replica's own (month, day) spend totals, to re-seed a Redis that lost them."""
        ...


class RoutingState(Protocol):
    """Circuits, manual overrides and attempt history.

    Keys are a target key ("provider/model") or a provider name. Reads are synchronous and
    cheap; a shared backend serves them from a local cache and publishes writes
    (`put_circuit`, `set_disabled`, `set_forced`) to the other replicas. Only `lease` and
    `admit` may wait for the shared store: they must be atomic across replicas.
    """

    shared: bool   # True when other processes see this state (admission goes through `admit`)

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def view(self) -> dict[str, Any]:
        """For router.status()["state"]: backend, and for a shared one whether it is connected."""
        ...

    def circuit(self, key: str) -> Circuit | None: ...

    def put_circuit(self, circuit: Circuit) -> None:
        """Store a new or changed circuit (called after every transition)."""
        ...

    def circuits(self) -> dict[str, Circuit]: ...

    async def lease(self, key: str, ttl: float) -> bool:
        """Take the half-open trial lease of `key` for `ttl` seconds; False if another
        process holds it."""
        ...

    def unlease(self, key: str) -> None:
        """Give back a trial lease this process holds (its attempt was never sent, or
        proved nothing), so another request or replica can take the trial."""
        ...

    async def admit(self, key: str, limit: int, window: float = 60.0,
                    sent: int = 0) -> float | None:
        """Count one request against a limit shared by every replica: None if admitted,
        else seconds until it could be. `sent`: requests this replica sent earlier in the
        window without asking (before the limit was known); they are counted first."""
        ...

    async def admit_tokens(self, key: str, limit: int, tokens: int, window: float = 60.0,
                           sent: int = 0) -> tuple[float | None, Any]:
        """Take `tokens` from a tokens-per-minute `limit` shared by every replica:
        (None, a hold for `settle_tokens`) if admitted, else (seconds until they fit, None).
        `sent`: tokens this replica sent earlier in the window without asking."""
        ...

    def settle_tokens(self, hold: Any, used: int | None) -> None:
        """The answer used `used` tokens (None: unknown, keep the estimate): hand back what
        the hold took beyond that, or count what it used beyond the estimate."""
        ...

    def disabled_until(self, provider: str) -> float | None: ...

    def set_disabled(self, provider: str, until: float | None) -> None:
        """Disable a provider until `until` (monotonic; inf = until enabled); None enables it."""
        ...

    def forced(self) -> str | None: ...

    def set_forced(self, provider: str | None) -> None: ...

    def record(self, target_key: str, *, ok: bool, code: str, ms: float, wall: float,
               ttft_ms: float | None = None) -> None:
        """One attempt's outcome: `ms` its total time, `ttft_ms` (streams) its time to the
        first content chunk; latencies are kept for answers only."""
        ...

    def stats(self, target_key: str) -> TargetStats | None: ...

    # -- what a shared backend exchanges beyond circuits (no-ops in memory) ---------------
    def attach(self, peers: Peers) -> None:
        """Who to tell about other replicas' usage, limit facts, spend and overrides."""
        ...

    def share_limits(self, target_key: str, facts: LimitFacts) -> None:
        """Tell the other replicas what this one learned about a target's limits."""
        ...

    def add_spend(self, usd: float, wall: float) -> None:
        """Add an answer's cost to the shared month and day totals."""
        ...

    def spend_totals(self, wall: float) -> tuple[float, float] | None:
        """Every replica's (month, day) spend for the period of `wall`; None if not known
        (memory backend, or Redis unreachable)."""
        ...

    def share_override(self, name: str, value: str | None) -> None:
        """Tell the other replicas about a budget override set here."""
        ...
