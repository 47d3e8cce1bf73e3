"""The routing-state interface. The router and health tracker only talk to this."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..health._breaker import Circuit

__all__ = ["RoutingState", "TargetStats"]


@dataclass(slots=True)
class TargetStats:
    """What the request path reports about one target (bounded memory)."""

    successes: int = 0
    failures: int = 0
    last_code: str | None = None
    last_success: float | None = None   # wall clock (time.time)
    last_failure: float | None = None
    latency_ms: list[float] = field(default_factory=list)  # ring of the last N
    ring_pos: int = 0

    def latency_percentile(self, q: float) -> float | None:
        if not self.latency_ms:
            return None
        ordered = sorted(self.latency_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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

    async def admit(self, key: str, limit: int, window: float = 60.0) -> float | None:
        """Count one request against a limit shared by every replica: None if admitted,
        else seconds until it could be."""
        ...

    def disabled_until(self, provider: str) -> float | None: ...

    def set_disabled(self, provider: str, until: float | None) -> None:
        """Disable a provider until `until` (monotonic; inf = until enabled); None enables it."""
        ...

    def forced(self) -> str | None: ...

    def set_forced(self, provider: str | None) -> None: ...

    def record(self, target_key: str, *, ok: bool, code: str, ms: float, wall: float) -> None:
        """Report one attempt's outcome."""
        ...

    def stats(self, target_key: str) -> TargetStats | None: ...
