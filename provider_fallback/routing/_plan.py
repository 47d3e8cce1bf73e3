"""The attempt plan of one request, in one screen:

    candidates (health order, bypass)  ->  gates (context, rate limits, budget, circuits,
    half-open trial)  ->  attempt (retried on the same target per policy)  ->  decision
    (retry, fall over, stop)  ->  wait for rate-limit capacity and go again, or fail.

A stream that breaks after content re-enters the same plan (`StreamDriver.continue_stream`)
with the text the client already has: the next eligible target continues the answer.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ..config import Config, Target
from ..errors import AllProvidersFailedError, Attempt, Failure, Fault, UpstreamError, spec
from ..health import Admission, Blocked, Outcome
from ..health._tracker import HealthTracker
from ..limits import estimate_prompt_tokens, estimate_text_tokens
from ..telemetry import EventBus
from ._accounting import Accounting
from ._attempt import Attempter, Learned
from ._policy import decide
from ._queue import ClientDisconnectedError, WaitQueue
from ._result import Completion
from ._route import Route
from ._splice import Continuation
from ._stream import UpstreamStream

__all__ = ["Disconnected", "Plan", "skipped_strings"]

Disconnected = Callable[[], Awaitable[Any]] | None


class Plan:
    """The attempt loop, shared by every endpoint, both stream modes and continuation."""

    def __init__(self, config: Config, health: HealthTracker, accounting: Accounting,
                 attempter: Attempter, learned: Learned, events: EventBus, queue: WaitQueue, *,
                 clock: Callable[[], float], sleep: Callable[[float], Awaitable[Any]],
                 rand: Callable[[], float]) -> None:
        self.config = config
        self.health = health
        self.accounting = accounting
        self._attempter = attempter
        self.learned = learned
        self.events = events
        self.queue = queue
        self._clock = clock
        self._sleep = sleep
        self._rand = rand

    async def route(self, route: Route, disconnected: Disconnected) -> Completion | UpstreamStream:
        """The plan: candidates -> gates -> attempt -> decision; wait for capacity; again."""
        while True:
            for target, bypass in self._candidates(route):
                admission = await self._admit(route, target, bypass)
                if admission is None:
                    continue
                answer = await self._attempts(route, target, admission)
                if answer is not None:
                    return answer
            await self._wait_for_capacity(route, disconnected)

    def _candidates(self, route: Route) -> Iterator[tuple[Target, Blocked | None]]:
        """The chain's targets that pass every gate now, in order (with the block a bypass
        goes past, if this one is the bypass); every target passed over is recorded with
        its reason."""
        clock, health, acct = self._clock, self.health, self.accounting
        order = health.order(route.chain, clock())
        if route.chain.several_keys:
            order = self._most_headroom_first(order, clock())
        bypass = _bypass(order)
        # Until the first target is handed out, nothing can have run in between (no await):
        # the block `order` just read still stands if it has not run out, so it is not read
        # again (a dead primary with its circuit open costs one peek per request, not two).
        fresh = True
        for target, seen in order:
            now = clock()
            if route.resume is not None:
                if target.key in route.failed:
                    continue   # it failed this answer once already
                if self.learned.strategy(target) == "off":
                    route.skip(target, "continuation_off")
                    continue
            floor = route.context_floor
            if floor is not None and target.context is not None and target.context <= floor:
                route.skip(target, "context_too_small", f"context {target.context} <= {floor}")
                continue
            gated = acct.gate(target, route.tokens, now)
            if gated is not None:
                route.skip(target, *gated)
                continue
            if bypass is not None and target is bypass[0]:
                fresh = False
                yield target, bypass[1]
                continue
            if fresh and (seen is None or seen.until > now):
                block = seen
            else:
                block = health.blocked(target, now)
            if block is not None:
                route.skip(target, block.reason, _block_detail(block, now))
                continue
            fresh = False
            yield target, None

    def _most_headroom_first(self, order: list[tuple[Target, Blocked | None]],
                             now: float) -> list[tuple[Target, Blocked | None]]:
        """Side-by-side targets on the keys of one provider (the same model), the key with
        most headroom first; a 429 or 401 on one moves to the next key before the next
        provider."""
        out: list[tuple[Target, Blocked | None]] = []
        i = 0
        while i < len(order):
            t = order[i][0]
            j = i + 1
            while j < len(order) and order[j][0].provider.family == t.provider.family \
                    and order[j][0].model == t.model:
                j += 1
            run = order[i:j]
            if len(run) > 1:
                run.sort(key=lambda item: self.accounting.headroom(item[0], now), reverse=True)
            out += run
            i = j
        return out

    async def _admit(self, route: Route, target: Target, bypass: Blocked | None) -> Admission | None:
        """The half-open trial when one is due (awaits the shared lease), else a plain
        admission; None (recorded as skipped) if another request holds the trial."""
        now = self._clock()
        lease = min(target.policy.timeout, route.deadline - now)
        admitted = await self.health.admit(target, now, lease, bypass=bypass is not None)
        if isinstance(admitted, Blocked):
            route.skip(target, admitted.reason, _block_detail(admitted, now))
            return None
        if bypass is not None and not admitted.note:
            admitted = Admission(target, admitted.generations, admitted.trial, True,
                                 f"bypass: every target unavailable ({bypass.code or bypass.reason}, "
                                 f"{max(0.0, bypass.until - now):.1f}s left)")
        return admitted

    async def _attempts(self, route: Route, target: Target,
                        admission: Admission) -> Completion | UpstreamStream | None:
        """Attempts on one target until an answer, a fall-over (None) or a stop (raises)."""
        clock, acct = self._clock, self.accounting
        retries = 0
        note = admission.note
        while True:
            now = clock()
            if route.deadline <= now:
                self.health.release(admission, now)
                route.last = Failure(spec("timeout_total"), provider=target.provider.name,
                                     model=target.model, message="request deadline exceeded")
                raise self.exhausted(route)
            reservation = await self._reserve(route, target, now)
            if reservation is None:
                self.health.release(admission, clock())
                return None
            strategy = self._strategy(route, target)
            if strategy is not None:
                note = f"{note}; continuation: {strategy}" if note else f"continuation: {strategy}"
            payload, injected = self._attempter.payload(route, target, strategy)
            resume = route.resume
            try:
                answer = await self._attempter.send(
                    route, target, payload, reservation,
                    None if resume is None else Continuation(resume.transcript, strategy or "fresh"),
                    None if resume is None else resume.transcript)
            except UpstreamError as exc:
                action, wait = self._failed(route, target, admission, reservation, exc, retries,
                                            note, injected, strategy, now)
                if action == "again":        # learned what it does not take; same target
                    note = admission.note
                    continue
                if action == "retry":
                    retries += 1
                    resume_at = clock() + wait
                    await self._sleep(wait)
                    admitted = await self.health.admit(target, clock(), min(
                        target.policy.timeout, route.deadline - clock()))
                    if isinstance(admitted, Blocked):
                        if not _ends_by(admitted, resume_at):
                            return None
                        admitted = admission   # blocked only for the wait it advised
                    admission, note = admitted, f"retry {retries}"
                    continue
                if action == "stop":
                    raise
                return None
            except BaseException:
                acct.limits.settle(reservation, None, clock())
                self.health.release(admission, clock())
                raise
            return self._answer(route, target, admission, reservation, answer, note, now)

    async def _reserve(self, route: Route, target: Target, now: float) -> Any:
        acct = self.accounting
        if acct.shared is None:
            return acct.reserve(target, route.tokens, now)
        held = await acct.reserve_shared(target, route.tokens, now)
        if isinstance(held, tuple):   # a cluster-wide window is full
            route.skip(target, *held)
            return None
        return held

    def _strategy(self, route: Route, target: Target) -> str | None:
        """How `target` continues the broken stream (None: this is not a continuation)."""
        resume = route.resume
        if resume is None:
            return None
        choice = resume.transcript.choices.get(0)
        if choice is None or (not choice.content and not choice.tools):
            return "fresh"       # nothing textual sent yet: start from the beginning
        if choice.tools:
            return "restart"     # a tool call in flight cannot be prefilled
        return self.learned.strategy(target)

    def _failed(self, route: Route, target: Target, admission: Admission, reservation: Any,
                exc: UpstreamError, retries: int, note: str, injected: bool,
                strategy: str | None, started: float) -> tuple[str, float]:
        """Record a failed attempt and decide: again, retry, fallover or stop."""
        failure = exc.failure
        done = self._clock()
        ms = (done - started) * 1000
        route.attempts.append(Attempt(target.provider.name, target.model, failure.code,
                                      failure.status, ms, note))
        self.accounting.failed(target, reservation, failure, exc.headers, done)
        if failure.spec.fault is Fault.CALLER and failure.spec.category == "bad_request":
            # a 400 for what the gateway added is not the client's error nor the target's
            if injected and _mentions(failure.message, "stream_options", "include_usage"):
                self.learned.forbid(self.learned.no_stream_usage, target)
                return "again", 0.0
            if strategy == "prefill":
                self.learned.forbid(self.learned.no_prefill, target)
                self.events.emit("PREFILL_UNSUPPORTED", target=target.key, error=failure.message)
                return "again", 0.0
        self.health.report(admission, Outcome(False, failure, total_ms=ms), done,
                           alternatives=self._alternatives(route, target, done))
        route.last = failure
        route.failed.add(target.key)
        if failure.retry_after is not None:
            route.hints.append(failure.retry_after)
        decision = decide(failure, target.policy, retries=retries,
                          remaining=route.deadline - self._clock(), rnd=self._rand())
        if decision.action == "retry":
            block = self.health.blocked(target, done)
            if block is None or _ends_by(block, done + decision.wait):
                return "retry", decision.wait
        if decision.action == "stop" and route.resume is None:
            return "stop", 0.0
        if decision.action == "stop" and not failure.spec.fallover:
            return "stop", 0.0   # e.g. a continuation that diverged
        if failure.code == "context_length_exceeded":
            if target.context is not None:
                route.context_floor = max(route.context_floor or 0, target.context)
            if not self._larger_may_exist(route):
                return "stop", 0.0
        self._emit_fallback(route, target, failure)
        return "fallover", 0.0

    def _answer(self, route: Route, target: Target, admission: Admission, reservation: Any,
                answer: Completion | UpstreamStream, note: str, started: float
                ) -> Completion | UpstreamStream:
        done = self._clock()
        ms = (done - started) * 1000
        route.attempts.append(Attempt(target.provider.name, target.model, "ok", 200, ms, note))
        self.health.chain_answered(route.chain.alias, done, target)
        if isinstance(answer, Completion):
            self.health.report(admission, Outcome(True, total_ms=ms), done, alternatives=False)
            answer.accounting = (target, reservation)
            return answer
        answer.admission, answer.reservation = admission, reservation
        answer.slot, answer.note = len(route.attempts) - 1, note
        return answer

    async def _wait_for_capacity(self, route: Route, disconnected: Disconnected) -> None:
        """Nothing answered: wait in line if only rate limits stand in the way, else fail."""
        clock = self._clock
        now = clock()
        wait = self.accounting.capacity_wait(route.chain, route.tokens, now)
        if route.resume is not None or wait is None \
                or not self.queue.can_wait(wait, route.deadline - now):
            raise self.exhausted(route)
        queued = clock()
        try:
            still_there = await self.queue.wait(route.chain.alias, now + wait, disconnected)
        finally:
            route.rec.queue_ms += (clock() - queued) * 1000
        if not still_there:
            raise ClientDisconnectedError(route.chain.alias)
        route.skip(None, "queued", f"{wait:.1f}s for rate-limit capacity")

    def exhausted(self, route: Route) -> AllProvidersFailedError:
        now = self._clock()
        waits = [b.until - now for t in route.chain.targets
                 if (b := self.health.blocked(t, now)) is not None and not math.isinf(b.until)]
        capacity = self.accounting.capacity_wait(route.chain, 0, now)
        if capacity is not None:
            waits.append(capacity)
        hints = route.hints
        retry_after = min(waits) if waits else (min(hints) if hints else None)
        if route.resume is None:
            self.health.chain_exhausted(route.chain.alias, now,
                                        [a.as_dict() for a in route.attempts])
        return AllProvidersFailedError(route.chain.alias, route.attempts, retry_after=retry_after,
                                       last=route.last, skipped=skipped_strings(route))

    def settle(self, route: Route, target: Target, reservation: Any,
               usage: dict[str, Any] | None, chars: int) -> None:
        """Settle one answered attempt: real usage, else an estimate (marked as such)."""
        if not usage or not isinstance(usage.get("prompt_tokens"), int):
            usage = {"prompt_tokens": estimate_prompt_tokens(route.body),
                     "completion_tokens": estimate_text_tokens(chars)}
            route.estimated = True
        prompt, completion, cost = self.accounting.answered(target, reservation, usage,
                                                            self._clock())
        route.add_usage(prompt, completion)
        if cost is not None:
            route.rec.cost_usd = (route.rec.cost_usd or 0.0) + cost

    def _alternatives(self, route: Route, target: Target, now: float) -> bool:
        return any(t is not target and self.health.blocked(t, now) is None
                   for t in route.chain.targets)

    def _larger_may_exist(self, route: Route) -> bool:
        """After a context-length failure: is there an untried target that may be larger?"""
        floor = route.context_floor
        return any(t.key not in route.failed and (floor is None or t.context is None
                                                  or t.context > floor)
                   for t in route.chain.targets)

    def _emit_fallback(self, route: Route, target: Target, failure: Failure) -> None:
        targets = route.chain.targets
        i = next((j for j, t in enumerate(targets) if t is target), len(targets))
        nxt = next((t for t in targets[i + 1:] if t.key not in route.failed), None)
        self.events.emit("FALLBACK", alias=route.chain.alias, from_target=target.key,
                         from_provider=target.provider.name,
                         to_target=nxt.key if nxt else None,
                         to_provider=nxt.provider.name if nxt else None,
                         reason=failure.code, error=failure.message)

def _bypass(order: list[tuple[Target, Blocked | None]]) -> tuple[Target, Blocked] | None:
    """If no target of the chain may be tried, the one that frees first (never a disabled one)."""
    if any(block is None for _, block in order):
        return None
    blocked = [(b.until, i, t, b) for i, (t, b) in enumerate(order)
               if b is not None and b.reason != "disabled"]
    if not blocked:
        return None
    _, _, target, block = min(blocked, key=lambda x: (x[0], x[1]))
    return target, block


def _ends_by(block: Blocked, when: float) -> bool:
    """The block is a circuit open for no longer than a wait the target itself advised."""
    return block.reason == "circuit_open" and block.until <= when + 0.01


def _block_detail(block: Blocked, now: float) -> str:
    """"connection_refused, 4.2s left" (either part left out when unknown)."""
    code = block.code
    if math.isinf(block.until):
        return code or ""
    left = f"{max(0.0, block.until - now):.1f}s left"
    return f"{code}, {left}" if code else left


def skipped_strings(route: Route) -> tuple[str, ...]:
    return tuple(str(s) for s in route.skipped) if route.skipped else ()


def _mentions(text: str, *words: str) -> bool:
    low = text.lower()
    return any(w in low for w in words)
