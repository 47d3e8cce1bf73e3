"""In-process routing state: the default backend (one worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import TargetStats

if TYPE_CHECKING:
    from ..health._breaker import Circuit
    from ..limits import LimitFacts
    from ._base import Peers

__all__ = ["MemoryState"]

LATENCY_WINDOW = 256


class MemoryState:
    """Plain dicts; O(1) per call, bounded by the number of configured targets."""

    shared = False

    def __init__(self, latency_window: int = LATENCY_WINDOW) -> None:
        self._circuits: dict[str, Circuit] = {}
        self._stats: dict[str, TargetStats] = {}
        self._disabled: dict[str, float] = {}
        self._forced: str | None = None
        self._window = latency_window

    def circuit(self, key: str) -> Circuit | None:
        return self._circuits.get(key)

    def put_circuit(self, circuit: Circuit) -> None:
        self._circuits[circuit.key] = circuit

    def circuits(self) -> dict[str, Circuit]:
        return dict(self._circuits)

    async def lease(self, key: str, ttl: float) -> bool:
        return True  # one process: the circuit record itself already serialises trials

    def unlease(self, key: str) -> None:
        pass

    async def admit(self, key: str, limit: int, window: float = 60.0,
                    sent: int = 0) -> float | None:
        return None  # one process: the rate ledger is the whole truth

    async def admit_tokens(self, key: str, limit: int, tokens: int, window: float = 60.0,
                           sent: int = 0) -> tuple[float | None, Any]:
        return None, None   # one process: the rate ledger counts tokens

    def settle_tokens(self, hold: Any, used: int | None) -> None:
        pass

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def view(self) -> dict[str, Any]:
        return {"backend": "memory", "connected": True, "degradations": 0}

    def disabled_until(self, provider: str) -> float | None:
        return self._disabled.get(provider)

    def set_disabled(self, provider: str, until: float | None) -> None:
        if until is None:
            self._disabled.pop(provider, None)
        else:
            self._disabled[provider] = until

    def forced(self) -> str | None:
        return self._forced

    def set_forced(self, provider: str | None) -> None:
        self._forced = provider

    def record(self, target_key: str, *, ok: bool, code: str, ms: float, wall: float,
               ttft_ms: float | None = None) -> None:
        st = self._stats.get(target_key)
        if st is None:
            st = self._stats[target_key] = TargetStats()
        st.last_code = code
        if ok:
            st.successes += 1
            st.last_success = wall
            n = self._window
            ring = st.latency_ms
            if len(ring) < n:
                ring.append(ms)
            else:
                ring[st.ring_pos] = ms
                st.ring_pos = (st.ring_pos + 1) % n
            if ttft_ms is not None:
                ring = st.ttft_ms
                if len(ring) < n:
                    ring.append(ttft_ms)
                else:
                    ring[st.ttft_pos] = ttft_ms
                    st.ttft_pos = (st.ttft_pos + 1) % n
        else:
            st.failures += 1
            st.last_failure = wall

    def stats(self, target_key: str) -> TargetStats | None:
        return self._stats.get(target_key)

    # one process: nothing to share with
    def attach(self, peers: Peers) -> None:
        pass

    def share_limits(self, target_key: str, facts: LimitFacts) -> None:
        pass

    def add_spend(self, usd: float, wall: float) -> None:
        pass

    def spend_totals(self, wall: float) -> tuple[float, float] | None:
        return None

    def share_override(self, name: str, value: str | None) -> None:
        pass
