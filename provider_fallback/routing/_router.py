"""The router: the public engine (library API, lifecycle, status) over one attempt plan.

Every endpoint and both stream modes go through `Plan.route` (see `_plan`); a stream that
breaks after content is continued through the same plan (`_streams`). This module builds
the request's `Route`, hands back the answer and keeps the request record.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .._loop import running_loop
from .._memory import BurstTrim
from ..config import Config
from ..errors import InvalidRequestError, ProviderFallbackError
from ..health._tracker import HealthTracker
from ..providers import Origin, UpstreamClient
from ..state import RoutingState, make_state
from ..telemetry import EventBus, RequestListeners, RequestRecord
from ._accounting import Accounting
from ._attempt import CHAT_PATH, EMBEDDINGS_PATH, Attempter, Learned, wants_usage
from ._plan import Disconnected, Plan, skipped_strings
from ._queue import WaitQueue
from ._result import Completion, StreamingCompletion
from ._route import Route
from ._status import router_status
from ._streams import StreamDriver

__all__ = ["Router"]

log = logging.getLogger("provider_fallback.routing")
_ids = itertools.count(1)
_ID_PREFIX = f"pf-{os.getpid():x}-{int(time.time()):x}-"


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
        # probes, and the supervised upstreams (started even with probes off)
        self._want_monitor = (config.health.enabled or any(
            p.supervise is not None for p in config.providers.values())) \
            if monitor is None else monitor
        self.monitor: Any = None
        self.requests = RequestListeners()   # called with a RequestRecord as each request ends
        self.inflight = 0
        # answers whose bookkeeping waits for the end of the loop step (defer_bookkeeping)
        self._deferred: list[tuple[Route, Completion, float]] = []
        self._trim = BurstTrim()   # the C heap back to the OS after a burst (_memory.py)
        # rate-limit ledger and budget (the spend ledger opens in `start`)
        self.accounting = Accounting(config, self.events, clock)
        if getattr(self.state, "shared", False):
            self.accounting.share(self.state)
        self.queue = WaitQueue(config.queue, sleep, clock)
        self.learned = Learned()
        self.plan = Plan(config, self.health, self.accounting,
                         Attempter(self._client, self.accounting, clock, self.learned),
                         self.learned, self.events, self.queue, clock=clock, sleep=sleep,
                         rand=rand)
        self._driver = StreamDriver(self.plan, config)

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
                      defer_bookkeeping: bool = False, origin: Origin | None = None,
                      ) -> Completion | StreamingCompletion:
        """Route an OpenAI-format request body (already parsed) to `path` along its chain.

        `defer_bookkeeping` (the gateway sets it): settle usage and cost and hand the
        request record to its listeners on the next loop iteration, after the caller has
        written the answer, so that work is not on the client's critical path.

        `disconnected`, if given, returns when the client has gone away: a request waiting
        in the rate-limit queue is then dropped.

        `origin`: the client's own request when a gateway endpoint translated it from
        another wire format (Anthropic Messages): a target of that API gets it as it came.
        """
        model = body.get("model")
        stream = bool(body.get("stream"))
        rec = RequestRecord(request_id or new_request_id(), model if isinstance(model, str) else "",
                            "embeddings" if path == EMBEDDINGS_PATH else "chat", stream, time.time())
        t0 = self._clock()
        self.inflight += 1
        self._trim.rose(self.inflight)
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
                          t0 + self.config.policy.request_deadline, rec, origin=origin)
            answer = await self.plan.route(route, disconnected)
        except ProviderFallbackError as exc:
            rec.outcome, rec.http_status = exc.code, exc.http_status
            if route is not None:
                rec.attempts, rec.skipped = tuple(route.attempts), skipped_strings(route)
            self._finish(rec, t0)
            raise
        except BaseException:
            self.inflight -= 1
            self._trim.fell(self.inflight)
            raise
        skipped = rec.skipped = skipped_strings(route)
        if isinstance(answer, Completion):
            answer.attempts, answer.skipped = tuple(route.attempts), skipped
            answer.request_id = rec.request_id
            if defer_bookkeeping:
                if not self._deferred:
                    running_loop().call_soon(self._answered_deferred)
                self._deferred.append((route, answer, t0))
            else:
                self._answered(route, answer, t0, learn_now=True)
            return answer
        rec.ttft_ms = (self._clock() - t0) * 1000
        result = StreamingCompletion(provider=answer.target.provider.name,
                                     model=answer.target.model, attempts=tuple(route.attempts),
                                     upstream=answer, driver=self._driver, want_usage=wants_usage(body),
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

    # -- bookkeeping ----------------------------------------------------------------------
    def _answered_deferred(self) -> None:
        """The deferred bookkeeping of every answer of the last loop step: one callback
        per step, not one per answer."""
        deferred, self._deferred = self._deferred, []
        for route, answer, t0 in deferred:
            try:
                self._answered(route, answer, t0)
            except Exception:   # one answer's bookkeeping must not lose the others'
                log.exception("bookkeeping of request %s failed", answer.request_id)

    def _answered(self, route: Route, answer: Completion, t0: float, *,
                  learn_now: bool = False) -> None:
        target, reservation = answer.accounting
        if answer.rate_headers is not None:   # they answer this request
            headers, answer.rate_headers = answer.rate_headers, None
            if learn_now:   # the library's own call: learned before it returns
                self.accounting.learn(target, headers, self._clock(), reservation)
            else:           # the gateway's: the step's newest answer of the target
                self.accounting.learn_soon(target, headers, reservation)
        usage = answer.usage
        self.plan.settle(route, target, reservation, usage,
                         0 if usage else _answer_chars(answer))
        self._close_record(route, t0)

    def _close_record(self, route: Route, t0: float) -> None:
        rec = route.rec
        rec.attempts = tuple(route.attempts)
        if len(rec.skipped) != len(route.skipped):   # a continuation skipped more (only appends)
            rec.skipped = skipped_strings(route)
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
        self._trim.fell(self.inflight)
        rec.latency_ms = (self._clock() - t0) * 1000
        rec.upstream_ms = sum(a.ms for a in rec.attempts)
        if self.requests:
            self.requests.emit(rec)


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
