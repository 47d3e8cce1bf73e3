"""The router: one attempt loop for every endpoint, both stream modes and continuation.

The plan of one request (`_route`) reads in one screen:

    candidates (health order, bypass)  ->  gates (context, rate limits, budget, circuits,
    half-open trial)  ->  attempt (retried on the same target per policy)  ->  decision
    (retry, fall over, stop)  ->  wait for rate-limit capacity and go again, or fail.

A stream that breaks after content re-enters the same plan (`continue_stream`) with the
text the client already has: the next eligible target continues the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from ..config import Config, Target
from ..errors import (
    AllProvidersFailedError,
    Attempt,
    Failure,
    Fault,
    InvalidRequestError,
    ProviderFallbackError,
    StreamInterruptedError,
    UpstreamError,
    spec,
)
from ..health import Admission, Blocked, Outcome
from ..health._tracker import HealthTracker
from ..limits import estimate_prompt_tokens, estimate_text_tokens
from ..providers import UpstreamClient
from ..state import RoutingState, make_state
from ..telemetry import EventBus, RequestListeners, RequestRecord
from ._accounting import Accounting
from ._attempt import CHAT_PATH, EMBEDDINGS_PATH, Attempter, Learned, wants_usage
from ._policy import decide
from ._queue import ClientDisconnectedError, WaitQueue
from ._result import Completion, StreamingCompletion
from ._route import Resume, Route
from ._splice import Continuation
from ._status import router_status
from ._stream import UpstreamStream

__all__ = ["Router"]

_ids = itertools.count(1)
_ID_PREFIX = f"pf-{os.getpid():x}-{int(time.time()):x}-"
Disconnected = Callable[[], Awaitable[Any]] | None


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ids):x}"


class Router:
    """Routes each request along its model's chain of provider/model targets.

    The gateway server is a thin layer over this class; library users call `chat`,
    `chat_stream` and `embeddings` directly. Clock, sleep and randomness are injected so
    policy tests never sleep.
    """

    def __init__(self, config: Config, *, state: RoutingState | None = None,
                 events: EventBus | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 rand: Callable[[], float] = random.random,
                 monitor: bool | None = None) -> None:
        self.config = config
        self.events = events if events is not None else EventBus()
        # `state: {backend: redis}` shares circuits, leases and limits across processes
        self.state: RoutingState = (state if state is not None
                                    else make_state(config, self.events, clock=clock))
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self.health = HealthTracker(config, self.state, self.events, clock=clock, rand=rand)
        self._client = UpstreamClient(config.providers)
        self._want_monitor = config.health.enabled if monitor is None else monitor
        self.monitor: Any = None
        self.requests = RequestListeners()   # called with a RequestRecord as each request ends
        self.inflight = 0
        # rate-limit ledger and budget (the spend ledger opens in `start`)
        self.accounting = Accounting(config, self.events, clock)
        if getattr(self.state, "shared", False):
            self.accounting.share(self.state)
        self.queue = WaitQueue(config.queue, sleep, clock)
        self.learned = Learned()
        self._attempter = Attempter(self._client, self.accounting, clock, self.learned)

    @property
    def limits(self) -> Any:
        """The RateLedger: per-target request/token windows and learned limits."""
        return self.accounting.limits

    @property
    def budget(self) -> Any:
        """The Budget (None until the router is started)."""
        return self.accounting.budget

    async def start(self) -> None:
        """Start background work: the spend ledger, the active health monitor (probes,
        supervised upstreams)."""
        await self.state.start()
        await self.accounting.open()
        if self._want_monitor and self.monitor is None:
            from ..health._monitor import HealthMonitor

            self.monitor = HealthMonitor(self.config, self.health, events=self.events)
            await self.monitor.start()

    # -- public API -------------------------------------------------------------------
    async def chat(self, *, model: str, messages: Sequence[dict[str, Any]], **params: Any) -> Completion:
        """A non-streaming chat completion; returns when the whole answer arrived."""
        body = {**params, "model": model, "messages": list(messages)}
        body.pop("stream", None)
        result = await self.request(CHAT_PATH, body)
        assert isinstance(result, Completion)
        return result

    async def chat_stream(self, *, model: str, messages: Sequence[dict[str, Any]],
                          **params: Any) -> StreamingCompletion:
        """A streaming chat completion, primed: the first content chunk already arrived."""
        body = {**params, "model": model, "messages": list(messages), "stream": True}
        result = await self.request(CHAT_PATH, body)
        assert isinstance(result, StreamingCompletion)
        return result

    async def embeddings(self, *, model: str, input: Any, **params: Any) -> Completion:
        body = {**params, "model": model, "input": input}
        result = await self.request(EMBEDDINGS_PATH, body)
        assert isinstance(result, Completion)
        return result

    def status(self) -> dict[str, Any]:
        """Per provider and target: health, circuits, probes, counters, latency."""
        return router_status(self, self._clock())

    async def aclose(self) -> None:
        if self.monitor is not None:
            await self.monitor.stop()
            self.monitor = None
        await self._client.aclose()
        await self.accounting.close()
        await self.state.aclose()

    async def __aenter__(self) -> Router:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the one request path ---------------------------------------------------------
    async def request(self, path: str, body: dict[str, Any], *,
                      request_id: str | None = None, disconnected: Disconnected = None,
                      defer_bookkeeping: bool = False,
                      ) -> Completion | StreamingCompletion:
        """Route an OpenAI-format request body (already parsed) to `path` along its chain.

        `defer_bookkeeping` (the gateway sets it): settle usage and cost and hand the
        request record to its listeners on the next loop iteration, after the caller has
        written the answer, so that work is not on the client's critical path.

        `disconnected`, if given, returns when the client has gone away: a request waiting
        in the rate-limit queue is then dropped.
        """
        model = body.get("model")
        stream = bool(body.get("stream"))
        rec = RequestRecord(request_id or new_request_id(), model if isinstance(model, str) else "",
                            "embeddings" if path == EMBEDDINGS_PATH else "chat", stream, time.time())
        t0 = self._clock()
        self.inflight += 1
        route: Route | None = None
        try:
            if not isinstance(model, str) or not model:
                raise InvalidRequestError("'model' is required and must be a string",
                                          code="invalid_request")
            chain = self.config.resolve(model)
            if chain is None:
                raise InvalidRequestError(
                    f"model '{model}' is not configured; known models: "
                    f"{', '.join(self.config.aliases)}", code="model_not_found", http_status=404)
            route = Route(chain, path, body, stream, self.accounting.estimate(body),
                          t0 + self.config.policy.request_deadline, rec)
            answer = await self._route(route, disconnected)
        except ProviderFallbackError as exc:
            rec.outcome, rec.http_status = exc.code, exc.http_status
            if route is not None:
                rec.attempts, rec.skipped = tuple(route.attempts), _strings(route)
            self._finish(rec, t0)
            raise
        except BaseException:
            self.inflight -= 1
            raise
        skipped = rec.skipped = _strings(route)
        if isinstance(answer, Completion):
            answer.attempts, answer.skipped = tuple(route.attempts), skipped
            answer.request_id = rec.request_id
            if defer_bookkeeping:
                asyncio.get_running_loop().call_soon(self._answered, route, answer, t0)
            else:
                self._answered(route, answer, t0)
            return answer
        rec.ttft_ms = (self._clock() - t0) * 1000
        result = StreamingCompletion(provider=answer.target.provider.name,
                                     model=answer.target.model, attempts=tuple(route.attempts),
                                     upstream=answer, driver=self, want_usage=wants_usage(body),
                                     transcript=answer.transcript)
        result.route, result.skipped, result.request_id = route, skipped, rec.request_id

        def on_end(s: StreamingCompletion) -> None:
            if s.failure is not None:
                rec.outcome, rec.http_status = s.failure.code, 200
            elif not s.completed:
                rec.outcome = "client_disconnected"
            self._close_record(route, t0)
        result.on_end = on_end
        return result

    async def _route(self, route: Route, disconnected: Disconnected) -> Completion | UpstreamStream:
        """The plan: candidates -> gates -> attempt -> decision; wait for capacity; again."""
        while True:
            async with contextlib.aclosing(self._candidates(route)) as candidates:
                async for target, admission in candidates:
                    answer = await self._attempts(route, target, admission)
                    if answer is not None:
                        return answer
            await self._wait_for_capacity(route, disconnected)

    async def _candidates(self, route: Route) -> AsyncIterator[tuple[Target, Admission]]:
        """The chain's targets that pass every gate now, in order, each admitted; every
        target passed over is recorded with its reason."""
        clock, health, acct = self._clock, self.health, self.accounting
        order = health.order(route.chain, clock())
        bypass = _bypass(order)
        for target, _ in order:
            now = clock()
            resume = route.resume
            if resume is not None:
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
            lease = min(target.policy.timeout, route.deadline - now)
            if bypass is not None and target is bypass[0]:
                block = bypass[1]
                admitted: Admission | Blocked = await health.admit(target, now, lease, bypass=True)
                if isinstance(admitted, Admission) and not admitted.note:
                    admitted = Admission(target, admitted.generations, admitted.trial, True,
                                         f"bypass: every target unavailable ({block.code or block.reason}, "
                                         f"{max(0.0, block.until - now):.1f}s left)")
            else:
                block = health.blocked(target, now)
                if block is not None:
                    route.skip(target, block.reason, _block_detail(block, now))
                    continue
                admitted = await health.admit(target, now, lease)
            if isinstance(admitted, Blocked):
                route.skip(target, admitted.reason, _block_detail(admitted, now))
                continue
            yield target, admitted

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
                raise self._exhausted(route)
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
            raise self._exhausted(route)
        queued = clock()
        try:
            still_there = await self.queue.wait(route.chain.alias, now + wait, disconnected)
        finally:
            route.rec.queue_ms += (clock() - queued) * 1000
        if not still_there:
            raise ClientDisconnectedError(route.chain.alias)
        route.skip(None, "queued", f"{wait:.1f}s for rate-limit capacity")

    def _exhausted(self, route: Route) -> AllProvidersFailedError:
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
                                       last=route.last, skipped=_strings(route))

    # -- streams: the end of each attempt, and continuation --------------------------------
    def attempt_ended(self, stream: StreamingCompletion, upstream: UpstreamStream,
                      failure: Failure | None, *, abandoned: bool = False) -> None:
        """Report a streamed attempt at its end (not at its first token) and count it."""
        route: Route = stream.route
        target = upstream.target
        now = self._clock()
        ms = (now - upstream.started) * 1000
        old = route.attempts[upstream.slot]
        code = "client_disconnected" if abandoned else (failure.code if failure else "ok")
        note = old.note if failure is None else (f"{old.note}; after content" if old.note
                                                 else "after content")
        route.attempts[upstream.slot] = Attempt(old.provider, old.model, code,
                                                old.status, ms, note)
        if abandoned:
            self.health.release(upstream.admission, now)
        else:
            ttft = None if upstream.ttft is None else upstream.ttft * 1000
            self.health.report(upstream.admission, Outcome(failure is None, failure, ms, ttft,
                                                           after_content=failure is not None),
                               now, alternatives=self._alternatives(route, target, now))
        if failure is not None:
            route.failed.add(target.key)
            route.last = failure
            if failure.spec.category == "rate_limit":
                self.accounting.limits.on_429(target, failure.retry_after, now)
        if upstream.invalid:
            self.events.emit("STREAM_EVENTS_SKIPPED", target=target.key, count=upstream.invalid,
                             reason="not JSON")
        usage = upstream.usage if failure is None and not abandoned else None
        self._settle(route, target, upstream.reservation, usage, upstream.chars,
                     estimate_prompt_tokens(route.body))
        stream.usage = dict(route.usage)

    async def continue_stream(self, stream: StreamingCompletion,
                              failure: Failure) -> UpstreamStream:
        """Go on with the next eligible target after `failure` broke the stream; raises
        StreamInterruptedError when nothing can continue it."""
        route: Route = stream.route
        settings = self.config.continuation
        if not settings.enabled or route.chain.continuation is False or stream.transcript.n > 1 \
                or route.continuations >= settings.max_attempts \
                or route.deadline <= self._clock():
            raise StreamInterruptedError(failure)
        route.continuations += 1
        route.resume = Resume(stream.transcript, f"{failure.provider}/{failure.model}", failure)
        sent = stream.transcript.chars
        try:
            upstream = await self._route(route, None)
        except ProviderFallbackError as exc:
            raise self._interrupted(failure, exc) from None
        assert isinstance(upstream, UpstreamStream)
        self.events.emit("CONTINUED", alias=route.chain.alias, from_target=route.resume.broken,
                         to_target=upstream.target.key,
                         strategy=upstream.continuation.strategy if upstream.continuation
                         else "fresh",
                         chars_sent=sent, reason=failure.code)
        return upstream

    def _interrupted(self, broken: Failure, exc: ProviderFallbackError) -> StreamInterruptedError:
        """The in-band error of a stream nothing could continue: the break, and why the
        continuation failed."""
        if isinstance(exc, UpstreamError) and exc.failure.code == "continuation_diverged":
            f = exc.failure
            return StreamInterruptedError(Failure(
                f.spec, provider=f.provider, model=f.model,
                message=f"{broken.provider}/{broken.model} broke ({broken.code}: "
                        f"{broken.message}); {f.provider}/{f.model} restarted the answer and "
                        f"{f.message}"))
        return StreamInterruptedError(Failure(
            broken.spec, provider=broken.provider, model=broken.model, status=broken.status,
            message=f"{broken.message}; no target could continue the answer ({exc.message})"))

    # -- bookkeeping ----------------------------------------------------------------------
    def _answered(self, route: Route, answer: Completion, t0: float) -> None:
        target, reservation = answer.accounting
        self._settle(route, target, reservation, answer.usage, _answer_chars(answer),
                     estimate_prompt_tokens(route.body))
        self._close_record(route, t0)

    def _settle(self, route: Route, target: Target, reservation: Any,
                usage: dict[str, Any] | None, chars: int, prompt_estimate: int) -> None:
        """Settle one answered attempt: real usage, else an estimate (marked as such)."""
        if not usage or not isinstance(usage.get("prompt_tokens"), int):
            usage = {"prompt_tokens": prompt_estimate,
                     "completion_tokens": estimate_text_tokens(chars)}
            route.estimated = True
        prompt, completion, cost = self.accounting.answered(target, reservation, usage,
                                                            self._clock())
        route.add_usage(prompt, completion)
        if cost is not None:
            route.rec.cost_usd = (route.rec.cost_usd or 0.0) + cost

    def _close_record(self, route: Route, t0: float) -> None:
        rec = route.rec
        rec.attempts = tuple(route.attempts)
        rec.skipped = _strings(route)
        answered = next((a for a in reversed(route.attempts) if a.code == "ok"), None)
        if answered is not None:
            rec.provider, rec.model = answered.provider, answered.model
        if route.usage:
            rec.prompt_tokens = route.usage.get("prompt_tokens")
            rec.completion_tokens = route.usage.get("completion_tokens")
        rec.usage_estimated = route.estimated
        rec.continuations = route.continuations
        self._finish(rec, t0)

    def _finish(self, rec: RequestRecord, t0: float) -> None:
        self.inflight -= 1
        rec.latency_ms = (self._clock() - t0) * 1000
        rec.upstream_ms = sum(a.ms for a in rec.attempts)
        if self.requests:
            self.requests.emit(rec)

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
    left = "" if math.isinf(block.until) else f"{max(0.0, block.until - now):.1f}s left"
    what = block.code or ""
    return ", ".join(p for p in (what, left) if p)


def _strings(route: Route) -> tuple[str, ...]:
    return tuple(str(s) for s in route.skipped)


def _mentions(text: str, *words: str) -> bool:
    low = text.lower()
    return any(w in low for w in words)


def _answer_chars(answer: Completion) -> int:
    n = 0
    for choice in answer.body.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            content = message.get("content")
            n += len(content) if isinstance(content, str) else 0
            for call in message.get("tool_calls") or ():
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    n += len(fn["arguments"])
    return n
