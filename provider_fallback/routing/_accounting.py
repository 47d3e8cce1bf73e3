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
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from multidict import CIMultiDictProxy

from .._loop import running_loop
from ..budget import Budget, SpendLedger, default_ledger_path
from ..config import Chain, Config, Target
from ..errors import Failure
from ..limits import (
    WINDOWS,
    LimitFacts,
    RateLedger,
    Reservation,
    cached_tokens_count,
    estimate_tokens,
    from_facts,
)
from ..state import RoutingState, Usage
from ..telemetry import EventBus

__all__ = ["Accounting"]

log = logging.getLogger("provider_fallback.router")

# Failures the provider never processed: the request counts, its tokens do not.
_UNASKED_MAX = 1000   # sends remembered per target while its rpm is unknown

_NOT_PROCESSED = frozenset({"auth", "quota", "rate_limit", "model", "context",
                            "content_policy", "bad_request", "connection"})


class Accounting:
    """Rate ledger + budget for one router. `budget` is None until `open()` (the spend
    ledger is a file: the gateway and `async with Router(...)` open it).

    With a shared state (Redis) it is also the state's `Peers`: it hands over this
    replica's rate-limit use and what it learned from the providers, and takes in the
    other replicas' (their use counts in every admission; their blocks and exhausted
    windows hold targets back here too), their spend, and budget overrides.
    """

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
        self._targets = {t.key: t for chain in config.chains.values() for t in chain.targets}
        self._told: dict[str, tuple[Any, ...]] = {}        # target key -> facts last shared
        self._peer_overrides: dict[str, str | None] = {}   # budget overrides from others
        # sends (time, requests or tokens) made before the rpm / tpm limit was known
        self._unasked: dict[str, deque[tuple[float, int]]] = {}
        self._unasked_tokens: dict[str, deque[tuple[float, int]]] = {}
        self._cached_rule: dict[str, bool] = {}   # target key -> cached tokens count?
        # answers' rate-limit headers learned at the end of the loop step (learn_soon)
        self._soon: dict[str, tuple[Target, Mapping[str, str], Reservation | None]] = {}

    def share(self, state: RoutingState) -> None:
        """Trade limits, use and spend with the other replicas through `state`."""
        self.shared = state
        state.attach(self)

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self, budget: Budget | None = None) -> None:
        """Open the spend ledger (in a thread: it is file I/O) and arm the budget."""
        if budget is not None:
            self.budget = budget
            self._share_budget()
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
        self._share_budget()

    def _share_budget(self) -> None:
        budget = self.budget
        if budget is None or self.shared is None:
            return
        budget.share(self.shared)
        for name, value in self._peer_overrides.items():   # arrived before the budget
            budget.adopt_override(name, value)

    async def close(self) -> None:
        spend, self._spend = self._spend, None
        self.budget = None
        if spend is not None:
            await asyncio.to_thread(spend.close)

    # -- before an attempt ----------------------------------------------------------------
    @staticmethod
    def estimate(body: Mapping[str, Any]) -> int:
        return estimate_tokens(body)

    def gate(self, target: Target, tokens: int, now: float) -> tuple[str, str] | None:
        """None if `target` may be tried now; else (registry code, detail) for the skipped
        list."""
        budget = self.budget
        if budget is not None and not budget.allows(target):
            return "budget_exceeded", "only free targets allowed"
        wait = self.limits.admits(target, tokens, now)
        if wait is None:
            return None
        if math.isinf(wait):
            return "rate_limit", f"a request of ~{tokens} tokens never fits its limits"
        return "rate_limit", f"capacity back in {wait:.1f}s"

    async def reserve_shared(self, target: Target, tokens: int,
                             now: float) -> Reservation | tuple[str, str]:
        """`reserve`, after taking the attempt's place in the windows every replica shares
        (requests and tokens per minute, where the limit is known); or why not (the local
        ledger then holds the target back until a slot frees, so the next requests skip it
        without asking Redis again)."""
        shared = self.shared
        assert shared is not None
        limits = self.limits
        key = target.key
        hold = None   # tokens first: unlike a request slot, they can be handed back
        tpm = limits.tpm_limit(target, now)   # learned (here or by a peer), else known
        if tpm is None:   # not known yet: remember the send for when it is
            self._unasked_tokens.setdefault(key, deque(maxlen=_UNASKED_MAX)).append((now, tokens))
        elif tokens > 0:
            wait, hold = await shared.admit_tokens(
                key, tpm, tokens, sent=self._sent_unasked(self._unasked_tokens, key, now))
            if wait is not None:   # look again soon: a smaller request may fit sooner
                limits.on_429(target, min(wait, 1.0), now)
                return ("rate_limit", f"token limit (shared by every replica): ~{tokens} "
                        f"tokens fit in {wait:.1f}s")
        rpm = limits.rpm_limit(target, now)
        if rpm is None:
            self._unasked.setdefault(key, deque(maxlen=_UNASKED_MAX)).append((now, 1))
        else:
            wait = await shared.admit(key, rpm, sent=self._sent_unasked(self._unasked, key, now))
            if wait is not None:
                shared.settle_tokens(hold, 0)   # not sent: its tokens go back
                limits.on_429(target, wait, now)
                self._known(target, now)   # every replica met the same full window
                return ("rate_limit", f"shared by every replica: capacity back in {wait:.1f}s")
        reservation = limits.reserve(target, tokens, now)
        reservation.hold = hold
        return reservation

    @staticmethod
    def _sent_unasked(book: dict[str, deque[tuple[float, int]]], key: str, now: float) -> int:
        """What was sent to `key` in the last minute before its limit was known."""
        if key not in book:
            return 0
        return sum(n for t, n in book.pop(key) if t > now - 60.0)

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
              reservation: Reservation | None = None) -> bool:
        """Learn from a response's rate-limit headers (and tell the other replicas what is
        new); True if they carried a `retry-after`."""
        if not headers:
            return False
        seen = self.limits.learn(target, headers, now, answering=reservation)
        if not seen.empty and self.shared is not None:
            self._tell(target, now)
        return seen.retry_after is not None

    def learn_soon(self, target: Target, headers: Mapping[str, str] | None,
                   reservation: Reservation | None = None) -> None:
        """`learn` at the end of this loop step, from each target's newest answer of the
        step: at many answers a step (the gateway under load), a target's headers are read
        once a step, not once an answer. The older ones say less than the newest (the
        provider's count in it is the latest) and the ledger counts every answer itself,
        so what is known stays the same but for answers that arrived out of order within
        one step. A `retry-after`, or headers not from the upstream pool, are learned at once."""
        if not headers:
            return
        if not isinstance(headers, CIMultiDictProxy) or "retry-after" in headers \
                or "retry-after-ms" in headers:
            self.learn(target, headers, self.clock(), reservation)
            return
        soon = self._soon
        if not soon:
            running_loop().call_soon(self._learn_step)
        soon[target.key] = (target, headers, reservation)

    def _learn_step(self) -> None:
        soon, self._soon = self._soon, {}
        now = self.clock()
        for target, headers, reservation in soon.values():
            try:
                self.learn(target, headers, now, reservation)
            except Exception:   # one target's headers must not lose the others'
                log.exception("learning the rate-limit headers of %s failed", target.key)

    def failed(self, target: Target, reservation: Reservation, failure: Failure,
               headers: Mapping[str, str] | None, now: float) -> None:
        limits = self.limits
        told = self.learn(target, headers, now, reservation)
        if failure.rate_facts:   # what the body said (OpenRouter metadata, Groq's words)
            limits.learn(target, from_facts(failure.rate_facts), now, answering=reservation)
            if self.shared is not None:
                self._tell(target, now)
        if failure.spec.category == "rate_limit" and not told:
            limits.on_429(target, failure.retry_after, now)
            if self.shared is not None:
                self._tell(target, now)
        processed = failure.spec.category not in _NOT_PROCESSED
        limits.settle(reservation, None if processed else 0, now)
        if reservation.hold is not None and self.shared is not None:
            self.shared.settle_tokens(reservation.hold, None if processed else 0)

    # -- between replicas (a shared state calls these from its background tasks) ----------
    def _tell(self, target: Target, now: float) -> None:
        """Share what was learned about `target` if it says something new: a block, a
        limit, a window found exhausted (not each response's falling `remaining`)."""
        facts = self.limits.facts(target, now)
        key = _coarse(facts, now)
        if self._told.get(target.key) == key:
            return
        self._told[target.key] = key
        assert self.shared is not None
        self.shared.share_limits(target.key, facts)

    def _known(self, target: Target, now: float) -> None:
        """What the ledger now holds about `target` is known to every replica already."""
        self._told[target.key] = _coarse(self.limits.facts(target, now), now)

    def own_usage(self) -> dict[str, Usage]:
        return dict(self.limits.usage(self.clock()))

    def peer_usage(self, used: dict[str, Usage]) -> None:
        now = self.clock()
        limits = self.limits
        for target in limits.peers_using():
            if target.key not in used:
                limits.set_others(target, (0, 0, 0, 0), now)
        for key, counts in used.items():
            target = self._targets.get(key)
            if target is not None:
                limits.set_others(target, counts, now)

    def peer_facts(self, target_key: str, facts: LimitFacts) -> None:
        target = self._targets.get(target_key)
        if target is None:
            return   # a target this replica's config does not have
        now = self.clock()
        self.limits.adopt(target, facts, now)
        self._known(target, now)   # do not echo it back

    def peer_spend(self) -> None:
        if self.budget is not None:
            self.budget.refresh()

    def peer_override(self, name: str, value: str | None) -> None:
        self._peer_overrides[name] = value
        if self.budget is not None:
            self.budget.adopt_override(name, value)

    def spend_floor(self, wall: float) -> tuple[float, float]:
        budget = self.budget
        return (0.0, 0.0) if budget is None else budget.ledger.current_totals(wall)

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
            if total is not None and not self._cached_counted(target):
                # e.g. Groq: cached prompt tokens do not count against its token limits
                total = max(0, total - _cached_tokens(usage))
        else:
            total = None
        self.limits.settle(reservation, total, now)
        if reservation.hold is not None and self.shared is not None:
            self.shared.settle_tokens(reservation.hold, total)
        cost = None
        budget = self.budget
        if budget is not None and prompt is not None:
            cost = budget.charge(target, prompt, completion or 0)
        return prompt, completion, cost

    def _cached_counted(self, target: Target) -> bool:
        counted = self._cached_rule.get(target.key)
        if counted is None:
            counted = self._cached_rule[target.key] = cached_tokens_count(target)
        return counted

    # -- status ---------------------------------------------------------------------------
    def limits_view(self, target: Target, now: float) -> dict[str, Any]:
        return self.limits.view(target, now)

    def headroom(self, target: Target, now: float) -> tuple[float, int]:
        """How much `target` has left, to compare keys of one provider: the smallest share
        left of any known window (0 while blocked), then the fewest requests this minute."""
        view = self.limits.view(target, now, resets=False)
        share = 0.0 if view["blocked_s"] > 0 else 1.0
        for window in WINDOWS:
            w = view[window]
            if w["limit"]:
                share = min(share, (w["remaining"] or 0) / w["limit"])
        return share, -int(view["rpm"]["used"])

    def budget_view(self) -> dict[str, Any] | None:
        return None if self.budget is None else self.budget.view()


def _cached_tokens(usage: Mapping[str, Any]) -> int:
    """`usage.prompt_tokens_details.cached_tokens` (OpenAI, Groq), else 0."""
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return cached if isinstance(cached, int) and cached > 0 else 0


def _coarse(facts: LimitFacts, now: float) -> tuple[Any, ...]:
    """`facts` with times made absolute and coarse (0.5 s): what changed is worth telling;
    a countdown is not."""
    return (round((now + facts.blocked_s) * 2) if facts.blocked_s > 0 else 0,
            tuple(None if w is None else (w[0], w[1], round((now + w[2]) * 2))
                  for w in facts.windows))
