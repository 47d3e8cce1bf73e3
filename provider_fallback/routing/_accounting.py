"""What the router asks before and after each attempt: rate-limit headroom, budget, cost.

The request path *reports* here (`reserve`, `learn`, `failed`, `answered`); the ledger and
the budget *decide* who may be tried (`gate`) and how long until capacity returns
(`capacity_wait`). Everything here is O(1) per call and does no I/O: the spend ledger
writes from its own thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..budget import Budget, SpendLedger, default_ledger_path
from ..config import Chain, Config, Target
from ..errors import Failure
from ..limits import RateLedger, Reservation, estimate_tokens
from ..limits._defaults import default_table
from ..state import RoutingState
from ..telemetry import EventBus

__all__ = ["Accounting"]

log = logging.getLogger("provider_fallback.router")

# Failures the provider never processed: the request counts, its tokens do not.
_NOT_PROCESSED = frozenset({"auth", "quota", "rate_limit", "model", "context",
                            "content_policy", "bad_request", "connection"})


class Accounting:
    """Rate ledger + budget for one router. `budget` is None until `open()` (the spend
    ledger is a file: the gateway and `async with Router(...)` open it)."""

    def __init__(self, config: Config, events: EventBus, clock: Callable[[], float], *,
                 ledger: RateLedger | None = None) -> None:
        self.config = config
        self.events = events
        self.clock = clock
        self.limits = ledger if ledger is not None else RateLedger()
        self.budget: Budget | None = None
        self._spend: SpendLedger | None = None
        # a shared RoutingState (Redis): per-minute request limits are admitted cluster-wide
        self.shared: RoutingState | None = None
        self._rpm: dict[str, int | None] = {}

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self, budget: Budget | None = None) -> None:
        """Open the spend ledger (in a thread: it is file I/O) and arm the budget."""
        if budget is not None:
            self.budget = budget
            return
        if self.budget is not None:
            return
        path = default_ledger_path(self.config.budget)
        try:
            self._spend = await asyncio.to_thread(SpendLedger, path)
        except Exception as exc:  # a read-only disk must not stop the gateway answering
            log.warning("spend ledger %s unavailable (%s): cost is not tracked and the budget "
                        "kill switch is off; set budget.data_dir to a writable folder", path, exc)
            return
        self.budget = Budget(self.config.budget, self._spend, self.events)

    async def close(self) -> None:
        spend, self._spend = self._spend, None
        self.budget = None
        if spend is not None:
            await asyncio.to_thread(spend.close)

    # -- before an attempt ----------------------------------------------------------------
    @staticmethod
    def estimate(body: Mapping[str, Any]) -> int:
        return estimate_tokens(body)

    def gate(self, target: Target, tokens: int, now: float) -> str | None:
        """None if `target` may be tried now; else why not (for the skipped list)."""
        budget = self.budget
        if budget is not None and not budget.allows(target):
            return "budget exceeded: only free targets allowed"
        wait = self.limits.admits(target, tokens, now)
        if wait is None:
            return None
        if math.isinf(wait):
            return f"rate limit: a request of ~{tokens} tokens never fits its limits"
        return f"rate limit: capacity back in {wait:.1f}s"

    async def admit_shared(self, target: Target, now: float) -> str | None:
        """The cluster-wide requests-per-minute window (only for targets with a known rpm):
        None if admitted; else why not, and the local ledger holds the target back until
        a slot frees, so the next requests skip it without asking Redis again."""
        shared = self.shared
        rpm = self._rpm.get(target.key, -1)
        if rpm == -1:
            rpm = self._rpm[target.key] = self._known_rpm(target)
        if shared is None or rpm is None:
            return None
        wait = await shared.admit(target.key, rpm)
        if wait is None:
            return None
        self.limits.on_429(target, wait, now)
        return f"rate limit (shared by every replica): capacity back in {wait:.1f}s"

    @staticmethod
    def _known_rpm(target: Target) -> int | None:
        if target.limits is not None and target.limits.rpm is not None:
            return target.limits.rpm
        shipped = default_table().lookup(target.provider.base_url, target.model)
        return None if shipped is None else shipped.rpm

    def capacity_wait(self, chain: Chain, tokens: int, now: float) -> float | None:
        """Seconds until some target of `chain` has capacity, if every target is held back
        by its rate limits (or the budget); None if any is held back by something else."""
        budget = self.budget
        best = math.inf
        for target in chain.targets:
            if budget is not None and not budget.allows(target):
                continue
            wait = self.limits.admits(target, tokens, now)
            if wait is None:
                return None   # not rate-limited: it failed for another reason
            best = min(best, wait)
        return None if math.isinf(best) else best

    def reserve(self, target: Target, tokens: int, now: float) -> Reservation:
        return self.limits.reserve(target, tokens, now)

    # -- after an attempt -----------------------------------------------------------------
    def learn(self, target: Target, headers: Mapping[str, str] | None, now: float,
              reservation: Reservation | None = None) -> None:
        if headers:
            self.limits.learn(target, headers, now, answering=reservation)

    def failed(self, target: Target, reservation: Reservation, failure: Failure,
               headers: Mapping[str, str] | None, now: float) -> None:
        limits = self.limits
        if headers:
            seen = limits.learn(target, headers, now, answering=reservation)
            told = seen.retry_after is not None
        else:
            told = False
        if failure.spec.category == "rate_limit" and not told:
            limits.on_429(target, failure.retry_after, now)
        processed = failure.spec.category not in _NOT_PROCESSED
        limits.settle(reservation, None if processed else 0, now)

    def answered(self, target: Target, reservation: Reservation,
                 usage: Mapping[str, Any] | None, now: float) -> tuple[int | None, int | None, float | None]:
        """Settle the reservation with real usage and charge the budget; returns
        (prompt_tokens, completion_tokens, cost_usd)."""
        prompt = completion = None
        if usage:
            p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
            prompt = p if isinstance(p, int) else None
            completion = c if isinstance(c, int) else None
            total = usage.get("total_tokens")
            if not isinstance(total, int):
                total = (prompt or 0) + (completion or 0) if prompt is not None else None
        else:
            total = None
        self.limits.settle(reservation, total, now)
        cost = None
        budget = self.budget
        if budget is not None and prompt is not None:
            cost = budget.charge(target, prompt, completion or 0)
        return prompt, completion, cost

    # -- status ---------------------------------------------------------------------------
    def limits_view(self, target: Target, now: float) -> dict[str, Any]:
        return self.limits.view(target, now)

    def budget_view(self) -> dict[str, Any] | None:
        return None if self.budget is None else self.budget.view()
