"""One request's way along its chain: what was tried, what was skipped and why.

`Route` is the per-request state of the attempt loop (tenacity's RetryCallState): the
router's plan reads and updates it, the same for the first answer and for every
continuation of a broken stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..config import Chain, Target
from ..errors import Attempt, Failure
from ..telemetry import RequestRecord
from ._transcript import Transcript

__all__ = ["Resume", "Route", "Skip"]


class Skip(NamedTuple):
    """A target passed over without an attempt, with the reason's code (a NamedTuple: one
    per target passed over, on every request while a primary is down)."""

    target: str                 # "provider/model"; "" for a note about the whole chain
    code: str                   # circuit_open, disabled, trial_in_flight, budget_exceeded, ...
    detail: str = ""

    def __str__(self) -> str:
        head = f"{self.target}: {self.code}" if self.target else self.code
        return f"{head}: {self.detail}" if self.detail else head

    def as_dict(self) -> dict[str, str]:
        d = {"target": self.target, "code": self.code}
        if self.detail:
            d["detail"] = self.detail
        return d


@dataclass(slots=True)
class Resume:
    """A broken stream being continued: what the client has, who broke it."""

    transcript: Transcript
    broken: str                 # the target that broke it ("provider/model")
    failure: Failure


@dataclass(slots=True)
class Route:
    chain: Chain
    path: str
    body: dict[str, Any]
    stream: bool
    tokens: int                 # the request's token estimate, for rate-limit gates
    deadline: float
    rec: RequestRecord
    attempts: list[Attempt] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    hints: list[float] = field(default_factory=list)   # advertised waits, for Retry-After
    last: Failure | None = None
    # after a context-length failure: targets whose context is known to be no larger
    context_floor: int | None = None
    failed: set[str] = field(default_factory=set)      # targets that failed in this request
    resume: Resume | None = None
    continuations: int = 0
    usage: dict[str, int] = field(default_factory=dict)   # every attempt's usage, summed
    estimated: bool = False     # some of `usage` was estimated (no upstream count)
    # the client's own request when it spoke another format (providers.Origin): an
    # upstream of that format receives it as it came
    origin: Any = None

    def skip(self, target: Target | None, code: str, detail: str = "") -> None:
        self.skipped.append(Skip(target.key if target is not None else "", code, detail))

    def add_usage(self, prompt: int | None, completion: int | None) -> None:
        u = self.usage
        p, c = prompt or 0, completion or 0
        u["prompt_tokens"] = u.get("prompt_tokens", 0) + p
        u["completion_tokens"] = u.get("completion_tokens", 0) + c
        u["total_tokens"] = u.get("total_tokens", 0) + p + c
