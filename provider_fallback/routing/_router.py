"""The router: one attempt loop for every endpoint and both stream modes."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from .. import _json
from ..config import Chain, Config, Target
from ..errors import (
    AllProvidersFailedError,
    Attempt,
    Failure,
    InvalidRequestError,
    ProviderFallbackError,
    UpstreamError,
    classify_exception,
    classify_response,
    spec,
)
from ..health._tracker import HealthTracker
from ..limits import Reservation
from ..providers import UpstreamClient
from ..state import RoutingState, make_state
from ..telemetry import EventBus, RequestListeners, RequestRecord
from ._accounting import Accounting
from ._policy import decide
from ._queue import ClientDisconnectedError, WaitQueue
from ._result import Completion, StreamingCompletion
from ._stream import validated_chunks

__all__ = ["Router"]

CHAT_PATH = "/chat/completions"
EMBEDDINGS_PATH = "/embeddings"

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
        self._want_monitor = config.health.enabled if monitor is None else monitor
        self.monitor: Any = None
        self.requests = RequestListeners()   # called with a RequestRecord as each request ends
        self.inflight = 0
        # rate-limit ledger and budget (the spend ledger opens in `start`)
        self.accounting = Accounting(config, self.events, clock)
        if getattr(self.state, "shared", False):
            self.accounting.share(self.state)
        self.queue = WaitQueue(config.queue, sleep, clock)

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
        now = self._clock()
        health = self.health
        providers: dict[str, Any] = {}
        for name, provider in self.config.providers.items():
            view = health.provider_view(name, now)
            view["base_url"] = provider.base_url
            targets: dict[str, Any] = {}
            for target in health.targets_of(name):
                st = self.state.stats(target.key)
                targets[target.key] = {
                    "model": target.model,
                    "status": health.target_status(target, now),
                    "circuit": health.circuit_view(target.key, now),
                    "successes": st.successes if st else 0,
                    "failures": st.failures if st else 0,
                    "last_code": st.last_code if st else None,
                    "last_success": st.last_success if st else None,
                    "last_failure": st.last_failure if st else None,
                    "latency_ms_p50": st.latency_percentile(0.5) if st else None,
                    "latency_ms_p95": st.latency_percentile(0.95) if st else None,
                    "limits": self.accounting.limits_view(target, now),
                }
            view["targets"] = targets
            if self.monitor is not None:
                sup = self.monitor.supervisor_status(name)
                if sup:
                    view["supervised"] = sup
            providers[name] = view
        return {"providers": providers, "forced": self.state.forced(),
                "chains": {a: [t.key for t in c.targets] for a, c in self.config.chains.items()},
                "queue": {"depth": self.queue.depth(), "by_alias": self.queue.depths(),
                          "size": self.config.queue.size, "max_wait_s": self.config.queue.max_wait},
                "budget": self.accounting.budget_view(),
                "state": self.state.view()}

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

    # -- the one request path -------------------------------------------------------
    async def request(self, path: str, body: dict[str, Any], *,
                      request_id: str | None = None,
                      disconnected: Callable[[], Awaitable[Any]] | None = None,
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
        try:
            if not isinstance(model, str) or not model:
                raise InvalidRequestError("'model' is required and must be a string",
                                          code="invalid_request")
            chain = self.config.resolve(model)
            if chain is None:
                raise InvalidRequestError(
                    f"model '{model}' is not configured; known models: "
                    f"{', '.join(self.config.aliases)}", code="model_not_found", http_status=404)
            result = await self._run_chain(chain, path, body, stream, rec, disconnected)
        except ProviderFallbackError as exc:
            rec.outcome, rec.http_status = exc.code, exc.http_status
            rec.attempts = tuple(getattr(exc, "attempts", ()) or ())
            self._finish(rec, t0)
            raise
        except BaseException:
            self.inflight -= 1
            raise
        rec.provider, rec.model, rec.attempts = result.provider, result.model, result.attempts
        target, reservation = result.accounting  # type: ignore[misc]
        if isinstance(result, Completion):
            if defer_bookkeeping:
                asyncio.get_running_loop().call_soon(self._answered, rec, target, reservation,
                                                     result.usage, t0)
            else:
                self._answered(rec, target, reservation, result.usage, t0)
        else:
            rec.ttft_ms = (self._clock() - t0) * 1000

            def on_end(s: StreamingCompletion) -> None:
                if s.failure is not None:
                    rec.outcome, rec.http_status = s.failure.code, 200
                elif not s.completed:
                    rec.outcome = "client_disconnected"
                self._account(rec, target, reservation, s.usage)
                self._finish(rec, t0)
            result.on_end = on_end
        result.request_id = rec.request_id
        return result

    def _answered(self, rec: RequestRecord, target: Target, reservation: Reservation,
                  usage: dict[str, Any] | None, t0: float) -> None:
        self._account(rec, target, reservation, usage)
        self._finish(rec, t0)

    def _account(self, rec: RequestRecord, target: Target, reservation: Reservation,
                 usage: dict[str, Any] | None) -> None:
        rec.prompt_tokens, rec.completion_tokens, rec.cost_usd = self.accounting.answered(
            target, reservation, usage, self._clock())

    def _finish(self, rec: RequestRecord, t0: float) -> None:
        self.inflight -= 1
        rec.latency_ms = (self._clock() - t0) * 1000
        rec.upstream_ms = sum(a.ms for a in rec.attempts)
        if self.requests:
            self.requests.emit(rec)

    async def _run_chain(self, chain: Chain, path: str, body: dict[str, Any], stream: bool,
                         rec: RequestRecord,
                         disconnected: Callable[[], Awaitable[Any]] | None
                         ) -> Completion | StreamingCompletion:
        clock = self._clock
        start = clock()
        deadline = start + self.config.policy.request_deadline
        acct = self.accounting
        tokens = acct.estimate(body)
        attempts: list[Attempt] = []
        skipped: list[str] = []
        hints: list[float] = []   # advertised waits, for the final Retry-After
        last: Failure | None = None
        health = self.health
        skip_context_below: int | None = None
        while True:   # one pass along the chain; again after waiting in the queue
            candidates = health.order(chain, clock())
            i = 0
            while i < len(candidates):
                target, note = candidates[i]
                i += 1
                if skip_context_below is not None and (target.context or 0) <= skip_context_below:
                    continue
                now = clock()
                held = acct.gate(target, tokens, now)
                if held is not None:
                    skipped.append(f"{target.key}: {held}")
                    continue
                if not note:
                    if attempts and health.blocked(target, now) is not None:
                        continue  # opened by a failure earlier in this request (e.g. provider auth)
                    admitted = await health.acquire(target, now, min(target.policy.timeout,
                                                               deadline - now))
                    if admitted is None:
                        continue  # another request holds the half-open trial
                    note = admitted
                retries = 0
                while True:
                    now = clock()
                    remaining = deadline - now
                    if remaining <= 0:
                        last = Failure(spec("timeout_total"), provider=target.provider.name,
                                       model=target.model, message="request deadline exceeded")
                        return self._exhausted(chain, attempts, skipped, rec, last, hints)
                    if acct.shared is None:
                        reservation = acct.reserve(target, tokens, now)
                    else:
                        held = await acct.reserve_shared(target, tokens, now)
                        if isinstance(held, str):   # a cluster-wide window is full
                            skipped.append(f"{target.key}: {held}")
                            break
                        reservation = held
                    try:
                        result = await self._attempt(target, path, body, stream, remaining,
                                                     reservation)
                    except UpstreamError as exc:
                        failure = exc.failure
                        done = clock()
                        ms = (done - now) * 1000
                        attempts.append(Attempt(target.provider.name, target.model, failure.code,
                                                failure.status, ms, note))
                        acct.failed(target, reservation, failure, exc.headers, done)
                        self._report_failure(target, failure, ms)
                        last = failure
                        if failure.retry_after is not None:
                            hints.append(failure.retry_after)
                        decision = decide(failure, target.policy, retries=retries,
                                          remaining=deadline - clock(), rnd=self._rand())
                        if decision.action == "retry":
                            retries += 1
                            note = f"retry {retries}"
                            await self._sleep(decision.wait)
                            continue
                        if decision.action == "stop":
                            rec.skipped = tuple(skipped)
                            raise
                        if failure.code == "context_length_exceeded":
                            skip_context_below = max(skip_context_below or 0, target.context or 0)
                            if not any((t.context or 0) > skip_context_below
                                       for t in chain.targets):
                                rec.skipped = tuple(skipped)
                                raise
                        self._emit_fallback(chain, target, candidates[i:], failure)
                        break
                    except BaseException:
                        acct.limits.settle(reservation, None, clock())
                        raise
                    done = clock()
                    ms = (done - now) * 1000
                    attempts.append(Attempt(target.provider.name, target.model, "ok", 200, ms, note))
                    self.state.record(target.key, ok=True, code="ok", ms=ms, wall=time.time())
                    health.on_success(target, ms, done)
                    health.chain_answered(chain.alias, done, target)
                    result.attempts = tuple(attempts)
                    result.accounting = (target, reservation)
                    result.skipped = rec.skipped = tuple(skipped)
                    return result
            # nothing answered: wait in line if only rate limits stand in the way
            now = clock()
            wait = acct.capacity_wait(chain, tokens, now)
            if wait is None or not self.queue.can_wait(wait, deadline - now):
                return self._exhausted(chain, attempts, skipped, rec, last, hints)
            queued = clock()
            try:
                still_there = await self.queue.wait(chain.alias, now + wait, disconnected)
            finally:
                rec.queue_ms += (clock() - queued) * 1000
            if not still_there:
                raise ClientDisconnectedError(chain.alias)
            skipped.append(f"queued {wait:.1f}s for rate-limit capacity")

    def _exhausted(self, chain: Chain, attempts: list[Attempt], skipped: list[str],
                   rec: RequestRecord, last: Failure | None, hints: list[float]) -> Any:
        now = self._clock()
        waits = [b[0] - now for t in chain.targets
                 if (b := self.health.blocked(t, now)) is not None and not math.isinf(b[0])]
        capacity = self.accounting.capacity_wait(chain, 0, now)
        if capacity is not None:
            waits.append(capacity)
        retry_after = min(waits) if waits else (min(hints) if hints else None)
        rec.skipped = tuple(skipped)
        self.health.chain_exhausted(chain.alias, now, [a.as_dict() for a in attempts])
        raise AllProvidersFailedError(chain.alias, attempts, retry_after=retry_after, last=last,
                                      skipped=skipped)

    # -- one attempt ----------------------------------------------------------------
    async def _attempt(self, target: Target, path: str, body: dict[str, Any], stream: bool,
                       remaining: float, reservation: Reservation | None = None,
                       ) -> Completion | StreamingCompletion:
        policy = target.policy
        payload = _json.dumps({**body, "model": target.model})
        budget = min(policy.timeout, remaining)
        header_timeout = min(policy.ttft_timeout, budget) if stream else budget
        started = self._clock()
        resp = await self._client.open(target, path, payload, stream=stream,
                                       header_timeout=header_timeout,
                                       connect_timeout=min(policy.connect_timeout, budget))
        self.accounting.learn(target, resp.headers, self._clock(), reservation)
        name, model = target.provider.name, target.model
        if not stream:
            try:
                async with asyncio.timeout(max(0.001, budget - (self._clock() - started))):
                    raw = await resp.read()
            except TimeoutError:
                raise UpstreamError(Failure(spec("timeout_total"), provider=name, model=model,
                                            message=f"no complete answer within {budget:g}s")) from None
            except (aiohttp.ClientError, OSError) as exc:
                raise UpstreamError(classify_exception(exc, provider=name, model=model,
                                                       phase="stream")) from None
            finally:
                resp.release()
            try:
                parsed = _json.loads(raw)
            except _json.JSONDecodeError:
                raise UpstreamError(Failure(spec("malformed_response"), provider=name, model=model,
                                            status=resp.status,
                                            message="upstream answered with a body that is not JSON")) from None
            if not isinstance(parsed, dict) or ("error" in parsed and not parsed.get("choices")
                                                and not parsed.get("data")):
                raise UpstreamError(classify_response(502, resp.headers, parsed, provider=name, model=model))
            return Completion(raw=raw, provider=name, model=str(parsed.get("model") or model),
                              attempts=(), _body=parsed)
        return await self._prime(target, resp, started, header_timeout)

    async def _prime(self, target: Target, resp: aiohttp.ClientResponse, started: float,
                     ttft: float) -> StreamingCompletion:
        """Read until the first content chunk; any failure before it is a clean fall-over."""
        policy = target.policy
        flags = {"content": False, "finished": False}
        chunks = validated_chunks(resp, target, policy.stall_timeout, flags)
        buffered: list[bytes] = []
        try:
            async with asyncio.timeout(max(0.001, ttft - (self._clock() - started))):
                async for chunk in chunks:
                    buffered.append(chunk)
                    if flags["content"]:
                        break
        except TimeoutError:
            await chunks.aclose()
            resp.release()
            raise UpstreamError(Failure(spec("timeout_first_token"), provider=target.provider.name,
                                        model=target.model,
                                        message=f"no first token within {ttft:g}s")) from None
        except BaseException:
            await chunks.aclose()
            resp.close()
            raise
        rest = chunks if flags["content"] else None

        async def close() -> None:
            # release() closes the connection unless the body was read to its end.
            resp.release()

        def on_failure(failure: Failure) -> None:
            self._report_failure(target, failure, 0.0)

        return StreamingCompletion(provider=target.provider.name, model=target.model, attempts=(),
                                   buffered=buffered, rest=rest, on_failure=on_failure, close=close)

    # -- reporting ------------------------------------------------------------------
    def _report_failure(self, target: Target, failure: Failure, ms: float) -> None:
        self.state.record(target.key, ok=False, code=failure.code, ms=ms, wall=time.time())
        self.health.on_failure(target, failure, self._clock())

    def _emit_fallback(self, chain: Chain, target: Target, rest: list[tuple[Target, str]],
                       failure: Failure) -> None:
        nxt = rest[0][0] if rest else None
        self.events.emit("FALLBACK", alias=chain.alias, from_target=target.key,
                         from_provider=target.provider.name,
                         to_target=nxt.key if nxt else None,
                         to_provider=nxt.provider.name if nxt else None,
                         reason=failure.code, error=failure.message)


