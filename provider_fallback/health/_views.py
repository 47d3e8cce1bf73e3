"""What the health tracker shows: statuses, reliability and circuit views (read only)."""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

from ..config import Target
from ._breaker import CircuitState

if TYPE_CHECKING:
    from ..config import Config
    from ..state import RoutingState

__all__ = ["DEGRADED", "HEALTHY", "UNHEALTHY", "UNKNOWN", "StatusViews"]

HEALTHY, DEGRADED, UNHEALTHY, UNKNOWN = "HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"


class StatusViews:
    """The read-only half of HealthTracker (it provides these attributes)."""

    config: Config
    state: RoutingState
    _targets: dict[str, list[Target]]
    _reliability: dict[str, deque[float]]
    _probes: dict[str, dict[str, dict[str, Any]]]
    _degraded: set[str]

    def reliability(self, provider: str) -> float | None:
        ring = self._reliability[provider]
        return round(sum(ring) / len(ring), 3) if ring else None

    def target_status(self, target: Target, now: float) -> str:
        c = self.state.circuit(target.key)
        if c is not None and c.state is not CircuitState.CLOSED:
            return UNHEALTHY
        if target.key in self._degraded:
            return DEGRADED
        st = self.state.stats(target.key)
        return UNKNOWN if (st is None and c is None) else HEALTHY

    def provider_status(self, provider: str, now: float) -> tuple[str, str]:
        until = self.state.disabled_until(provider)
        if until is not None and until > now:
            return UNHEALTHY, "disabled by an admin"
        c = self.state.circuit(provider)
        if c is not None and c.state is not CircuitState.CLOSED:
            return UNHEALTHY, f"circuit {c.state.value} ({c.code})"
        quick = self._probes[provider].get("quick")
        if quick is not None and quick.get("ok") is False:
            return UNHEALTHY, f"quick ping failed ({quick.get('code')})"
        statuses = [self.target_status(t, now) for t in self._targets[provider]]
        if statuses and all(s == UNHEALTHY for s in statuses):
            return UNHEALTHY, "every model's circuit is open"
        if UNHEALTHY in statuses or DEGRADED in statuses:
            return DEGRADED, "some models unavailable or slow"
        score = self.reliability(provider)
        if score is None and all(s == UNKNOWN for s in statuses):
            return UNKNOWN, "no requests or probes yet"
        if score is not None and score < 0.5:
            return DEGRADED, f"reliability {score}"
        return HEALTHY, ""

    def circuit_view(self, key: str, now: float) -> dict[str, Any]:
        c = self.state.circuit(key)
        if c is None:
            return {"state": "closed", "generation": 0}
        view: dict[str, Any] = {"state": c.state.value, "generation": c.generation}
        if c.state is not CircuitState.CLOSED:
            view.update(code=c.code, reopens=c.reopens, down_s=round(now - c.opened_at, 3),
                        remaining_s=round(max(0.0, c.open_until - now), 3),
                        trial_in_flight=c.state is CircuitState.HALF_OPEN and c.trial_until > now)
        calls, failures, slow = c.window.totals(now)
        view.update(window_calls=calls, window_failures=failures, window_slow=slow)
        return view

    def provider_view(self, provider: str, now: float) -> dict[str, Any]:
        status, why = self.provider_status(provider, now)
        until = self.state.disabled_until(provider)
        return {"status": status, "why": why, "reliability": self.reliability(provider),
                "circuit": self.circuit_view(provider, now),
                "disabled_for_s": None if until is None or until <= now else
                (None if math.isinf(until) else round(until - now, 1)),
                "disabled": until is not None and until > now,
                "forced": self.state.forced() == provider,
                "probes": self._probes[provider]}

    def targets_of(self, provider: str) -> list[Target]:
        return list(self._targets[provider])
