"""What to do after a failed attempt: small pure functions over registry data and Policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import Policy, Target
from ..errors import Failure, Scope

__all__ = ["Decision", "backoff_delay", "cooldown_of", "decide"]

RATE_LIMIT_CATEGORY = "rate_limit"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["retry", "fallover", "stop"]
    wait: float = 0.0


def backoff_delay(policy: Policy, retry: int, rnd: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, base * 2**retry)]."""
    return rnd * min(policy.backoff_max, policy.backoff_base * (2 ** retry))


def decide(failure: Failure, policy: Policy, *, retries: int, remaining: float, rnd: float) -> Decision:
    """Retry the same target, fall over to the next, or stop and answer the caller."""
    spec = failure.spec
    if spec.code == "content_policy" and not policy.content_policy_fallback:
        return Decision("stop")
    if spec.retry_same and retries < policy.max_retries:
        if spec.category == RATE_LIMIT_CATEGORY:
            wait = failure.retry_after
            # Only a short, advertised wait is worth holding the request for.
            if wait is not None and wait <= policy.rate_limit_max_wait and wait < remaining:
                return Decision("retry", wait)
        else:
            wait = backoff_delay(policy, retries, rnd)
            if wait < remaining:
                return Decision("retry", wait)
    if spec.fallover or spec.code == "content_policy":
        return Decision("fallover")
    return Decision("stop")


def cooldown_of(failure: Failure, target: Target) -> tuple[str, float] | None:
    """(state key, seconds) to cool down after `failure` on `target`, or None."""
    spec = failure.spec
    if spec.scope is Scope.NONE:
        return None
    seconds = target.policy.cooldown_for(spec.code, spec.cooldown_s)
    if spec.honours_retry_after and failure.retry_after is not None:
        seconds = failure.retry_after
    if seconds <= 0:
        return None
    key = target.provider.name if spec.scope is Scope.PROVIDER else target.key
    return key, seconds
