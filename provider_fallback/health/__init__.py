"""Health: circuit breakers, the tracker that decides eligibility, probes and supervisors."""

from ._admission import Admission, Blocked, Outcome
from ._breaker import Breaker, Circuit, CircuitState, RollingWindow
from ._monitor import HealthMonitor
from ._probes import ProbeResult
from ._supervisor import Supervisor
from ._tracker import HealthTracker
from ._views import DEGRADED, HEALTHY, UNHEALTHY, UNKNOWN

__all__ = ["DEGRADED", "HEALTHY", "UNHEALTHY", "UNKNOWN", "Admission", "Blocked", "Breaker",
           "Circuit", "CircuitState", "HealthMonitor", "HealthTracker", "Outcome",
           "ProbeResult", "RollingWindow", "Supervisor"]
