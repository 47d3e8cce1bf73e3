"""What the request path and the health tracker say to each other about one attempt.

The router asks `admit` before an attempt and gets an `Admission` (or the `Blocked` reason
to skip the target); after the attempt it sends one `Outcome` through `report`. A stream's
outcome is reported at its end, not at its first token.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Target
from ..errors import Failure

__all__ = ["Admission", "Blocked", "Outcome"]


@dataclass(frozen=True, slots=True)
class Blocked:
    """Why a target may not be tried now, and until when."""

    until: float          # monotonic time the block ends (math.inf for an indefinite disable)
    reason: str           # "disabled" | "circuit_open" | "trial_in_flight"
    code: str | None      # registry code that opened the circuit, if any
    key: str              # the circuit key ("provider" or "provider/model")


@dataclass(frozen=True, slots=True)
class Admission:
    """An attempt let through: the circuits' generations at that moment."""

    target: Target
    generations: tuple[tuple[str, int], ...] = ()
    trial: tuple[str, ...] = ()       # circuit keys whose half-open trial this attempt holds
    bypass: bool = False              # let through although blocked: every target was unavailable
    note: str = ""                    # for the attempt list


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended."""

    ok: bool                          # a complete answer (a stream: finished and ended cleanly)
    failure: Failure | None = None
    total_ms: float = 0.0
    ttft_ms: float | None = None      # streams: time to the first content chunk
    after_content: bool = False       # the failure came after content reached the client
