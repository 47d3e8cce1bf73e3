"""What the attempt loop and the health tracker hand each other: a block, an admission, an
outcome. The loop asks (`order`, `blocked`, `admit`), sends, and reports once per attempt
(`report`, or `release` for an attempt never sent); health decides everything else.

Immutable records made on every request: NamedTuples, which are made in a third of the
time of frozen dataclasses (no `object.__setattr__` per field)."""

from __future__ import annotations

from typing import NamedTuple

from ..config import Target
from ..errors import Failure

__all__ = ["Admission", "Blocked", "Outcome"]


class Blocked(NamedTuple):
    """Why a target may not be tried now, and until when."""

    until: float          # monotonic time the block ends (math.inf for an indefinite disable)
    reason: str           # "disabled" | "circuit_open" | "trial_in_flight"
    code: str | None      # registry code that opened the circuit, if any
    key: str              # the circuit key ("provider" or "provider/model")


class Admission(NamedTuple):
    """A target let through. Its outcome changes a circuit's state only while the circuit
    is still at the generation recorded here; otherwise it is statistics only."""

    target: Target
    generations: tuple[tuple[str, int], ...]  # (circuit key, generation) of the provider and target circuits at admission
    trial: tuple[str, ...] = ()               # circuit keys whose half-open trial this attempt holds
    bypass: bool = False                      # let through although blocked: every target of the chain was unavailable
    note: str = ""                            # for the attempt list: "", "half-open trial of groq", "bypass: ..."

    def generation(self, key: str) -> int | None:
        for k, g in self.generations:
            if k == key:
                return g
        return None


class Outcome(NamedTuple):
    """How one attempt ended."""

    ok: bool                       # a complete answer; a stream is ok only if it reached finish_reason and ended cleanly
    failure: Failure | None = None # when not ok
    total_ms: float = 0.0
    ttft_ms: float | None = None   # streams: time to first content chunk
    after_content: bool = False    # the failure came after content reached the client (continuation may have rescued the client; it is still this target's failure)
