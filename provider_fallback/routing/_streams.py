"""The router's side of a streamed answer: each attempt reported at its end, and a broken
stream continued through the same plan as every request."""

from __future__ import annotations

import logging

from ..config import Config
from ..errors import Attempt, Failure, ProviderFallbackError, StreamInterruptedError, UpstreamError
from ..health import Outcome
from ._plan import Plan
from ._result import StreamingCompletion
from ._route import Resume, Route
from ._stream import UpstreamStream

__all__ = ["StreamDriver"]

log = logging.getLogger("provider_fallback.router")


class StreamDriver:
    """Told when each streamed attempt ends; asked to continue a broken stream."""

    def __init__(self, plan: Plan, config: Config) -> None:
        self.plan = plan
        self.config = config
        self.health = plan.health
        self.accounting = plan.accounting
        self.events = plan.events
        self._clock = plan._clock

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
                               # only a failure asks whether another target was up
                               now, alternatives=failure is not None
                               and self.plan._alternatives(route, target, now))
        if failure is not None:
            route.failed.add(target.key)
            route.last = failure
            if failure.spec.category == "rate_limit":
                self.accounting.limits.on_429(target, failure.retry_after, now)
        if upstream.invalid:
            self.events.emit("STREAM_EVENTS_SKIPPED", target=target.key, count=upstream.invalid,
                             reason="not JSON", outcome=code)
            log.warning("%s sent %d stream event(s) that were not JSON; skipped (the stream %s)",
                        target.key, upstream.invalid,
                        "went on" if failure is None else f"then failed: {code}")
        usage = upstream.usage if failure is None and not abandoned else None
        self.plan.settle(route, target, upstream.reservation, usage, upstream.chars)
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
        began = self._clock()
        try:
            upstream = await self.plan.route(route, None)
        except ProviderFallbackError as exc:
            raise self._interrupted(failure, exc) from None
        assert isinstance(upstream, UpstreamStream)
        self.events.emit("CONTINUED", alias=route.chain.alias, from_target=route.resume.broken,
                         to_target=upstream.target.key,
                         strategy=upstream.continuation.strategy if upstream.continuation
                         else "fresh",
                         chars_sent=sent, reason=failure.code,
                         # from the break to the first continued chunk, and of that the
                         # continuing attempt's own time to first token
                         gap_ms=round((self._clock() - began) * 1000, 2),
                         ttft_ms=None if upstream.ttft is None else round(upstream.ttft * 1000, 2))
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
