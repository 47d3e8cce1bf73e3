"""Health: circuit breakers, the tracker that decides eligibility, probes and supervisors."""

from ._breaker import Breaker, Circuit, CircuitState, RollingWindow
from ._tracker import DEGRADED, HEALTHY, UNHEALTHY, UNKNOWN, HealthTracker

__all__ = ["DEGRADED", "HEALTHY", "UNHEALTHY", "UNKNOWN", "Breaker", "Circuit", "CircuitState",
           "HealthMonitor", "HealthTracker", "RollingWindow"]


def __getattr__(name: str) -> object:
    # The probe monitor is built separately; imported lazily so the request path never needs it.
    if name == "HealthMonitor":
        from ._monitor import HealthMonitor

        return HealthMonitor
    raise AttributeError(name)
