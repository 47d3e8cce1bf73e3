"""Value types of the error registry: what a failure *is* and what to do about it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ._steps import Facts, Shell, Step, render_steps

__all__ = ["ErrorSpec", "Failure", "Fault", "Scope"]


class Fault(enum.StrEnum):
    """Who is at fault for a failure; decides whether it may open a circuit."""

    CALLER = "caller"
    PROVIDER = "provider"
    NETWORK = "network"
    GATEWAY = "gateway"


class Scope(enum.StrEnum):
    """What a cooldown applies to."""

    NONE = "none"          # no cooldown at all (caller errors)
    TARGET = "target"      # this provider+model only (404 model, context, ...)
    PROVIDER = "provider"  # every model of the provider (auth, quota, connection)


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One row of the registry. Pure data: the router reads it, never string-matches."""

    code: str                     # stable, snake_case, e.g. "rate_limit_rpm"
    category: str                 # low-cardinality family: auth, rate_limit, quota, model, ...
    fault: Fault
    retry_same: bool              # may the same target be retried (with backoff)?
    fallover: bool                # may the request move on to the next target?
    cooldown_s: float             # default cooldown applied to `scope` (0 = none)
    scope: Scope
    honours_retry_after: bool     # an advertised Retry-After overrides cooldown_s
    http_status: int              # status the gateway answers with if this is final
    summary: str                  # one line, user facing
    resolution: tuple[Step | str, ...]   # steps to fix, user facing: templates (see _steps.py)

    def steps(self, facts: Facts | None = None, shell: Shell | None = None) -> tuple[str, ...]:
        """The resolution rendered for `shell` (default: this machine's) with `facts`."""
        return render_steps(self.resolution, facts, shell)


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified failure of one attempt (or of the whole request)."""

    spec: ErrorSpec
    provider: str | None = None
    model: str | None = None
    status: int | None = None         # upstream HTTP status, if any
    message: str = ""                 # provider's message, secrets already scrubbed
    retry_after: float | None = None  # seconds, from Retry-After / retry-after-ms / x-ratelimit-reset-*
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.spec.code
