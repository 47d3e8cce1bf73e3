"""The active health monitor: background probes per provider, and supervised upstreams.

One task per provider runs its tiers in turn, so there is never more than one probe in
flight per provider (an admin `probe_now` waits for the same lock). Results go to the
HealthTracker, which moves an open circuit to half-open when a probe disproves what opened
it; a validation probe may be the half-open trial itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from ..config import Config, ProviderSpec
from ..errors import Failure, spec
from ..providers import proxy_for
from ..providers._fetch import Fetcher
from ..telemetry import EventBus
from ._admission import Admission, Outcome
from ._probes import TIERS, ProbeResult, probe
from ._supervision import SupervisionFollower
from ._supervisor import Supervisor
from ._tracker import HealthTracker

__all__ = ["HealthMonitor"]

log = logging.getLogger("provider_fallback.health")


class HealthMonitor:
    def __init__(self, config: Config, tracker: HealthTracker, *, events: EventBus,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        self.config = config
        self.tracker = tracker
        self.events = events
        self._clock = clock
        self._rand = rand
        self._session: Fetcher | None = None   # every probe on a connection of its own
        self._tasks: list[asyncio.Task[None]] = []
        self._locks = {name: asyncio.Lock() for name in config.providers}
        self._last: dict[str, dict[str, ProbeResult]] = {name: {} for name in config.providers}
        self._proxies = {name: proxy_for(p.base_url) for name, p in config.providers.items()}
        # a worker of `serve --workers N` follows the supervisor process's upstreams instead
        # of starting its own copy (see _supervision.py)
        self.follower = SupervisionFollower.from_env(events)
        self.supervisors = {} if self.follower is not None else {
            name: Supervisor(name, p.supervise, events, clock=clock)
            for name, p in config.providers.items() if p.supervise is not None}

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        self._session = Fetcher(keepalive=False)
        for sup in self.supervisors.values():
            await sup.start()
        if self.follower is not None:
            await self.follower.start()
        for name, provider in self.config.providers.items():
            if not self.config.health.enabled:   # running for its supervised upstreams only
                for tier in TIERS:
                    self.tracker.probe_skipped(name, tier, "health.enabled: false in config")
                continue
            if not provider.probe:
                for tier in TIERS:
                    self.tracker.probe_skipped(name, tier, "probe: false in config")
                continue
            self._tasks.append(asyncio.create_task(self._loop(provider), name=f"probe:{name}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sup in self.supervisors.values():
            await sup.stop()
        if self.follower is not None:
            await self.follower.stop()
        if self._session is not None:
            await self._session.aclose()
            self._session = None

    # -- scheduling -------------------------------------------------------------------
    def _interval(self, tier: str) -> float:
        h = self.config.health
        return {"quick": h.quick_interval, "full": h.full_interval,
                "validate": h.validate_interval}[tier]

    def _timeout(self, tier: str) -> float:
        h = self.config.health
        return {"quick": h.quick_timeout, "full": h.full_timeout,
                "validate": h.validate_timeout}[tier]

    def skip_reason(self, provider: ProviderSpec, tier: str) -> str | None:
        """Why `tier` does not run against `provider`, or None if it does."""
        if not provider.probe:
            return "probe: false in config"
        if tier != "quick" and provider.api_key is None:
            return "no API key configured"
        if tier == "validate":
            if not provider.validate_calls:
                return "off: validate_calls is false (a 1-token completion costs money)"
            if self._validate_model(provider) is None:
                return "no model of this provider is used by any chain"
        return None

    def _validate_model(self, provider: ProviderSpec) -> str | None:
        targets = self.tracker.targets_of(provider.name)
        return targets[0].model if targets else None

    async def _loop(self, provider: ProviderSpec) -> None:
        name = provider.name
        now = self._clock()
        due: dict[str, float] = {}
        for tier in TIERS:
            reason = self.skip_reason(provider, tier)
            if reason is not None:
                self.tracker.probe_skipped(name, tier, reason)
            else:
                # quick ping at once; the slower tiers spread out so providers don't sync up
                due[tier] = now if tier == "quick" else now + self._rand() * min(
                    self._interval(tier), 5.0)
        if not due:
            return
        while True:
            tier = min(due, key=due.__getitem__)
            wait = due[tier] - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self.probe_now(name, tier)
            except Exception:  # a probe bug must never stop the monitor
                log.exception("probe %s/%s failed unexpectedly", name, tier)
            due[tier] = self._clock() + self._interval(tier)

    # -- probing ----------------------------------------------------------------------
    async def probe_now(self, name: str, tier: str = "quick") -> ProbeResult | dict[str, Any]:
        """Probe `name` now (waits for a probe already in flight); returns the result."""
        provider = self.config.providers[name]
        if tier not in TIERS:
            return {"skipped": f"unknown tier '{tier}'; use one of {', '.join(TIERS)}"}
        reason = self.skip_reason(provider, tier)
        if reason is not None:
            self.tracker.probe_skipped(name, tier, reason)
            return {"tier": tier, "skipped": reason}
        if self._session is None:
            return {"tier": tier, "skipped": "monitor not running"}
        async with self._locks[name]:
            started = self.tracker.clock()   # the circuits' clock, not the scheduler's
            trial = await self._validation_trial(provider, tier, started)
            try:
                result = await probe(self._session, provider, tier, timeout=self._timeout(tier),
                                     proxy=self._proxies[name],
                                     model=self._validate_model(provider))
            except BaseException:
                if trial is not None:
                    self.tracker.release(trial, self.tracker.clock())
                raise
        self._last[name][tier] = result
        if trial is not None:
            self.tracker.report(trial, _outcome(result, trial), self.tracker.clock(),
                                alternatives=False)
        else:
            self.tracker.on_probe(name, tier, ok=result.ok, code=result.code, ms=result.ms,
                                  models=result.models, detail=result.detail, started=started)
        if not result.ok:
            log.info("probe %s %s failed: %s %s", tier, name, result.code, result.detail)
        sup = self.supervisors.get(name)
        if sup is not None and tier == "quick":
            sup.observe_probe(result.ok, result.code)
        return result

    async def _validation_trial(self, provider: ProviderSpec, tier: str,
                                now: float) -> Admission | None:
        """A validation probe (a real 1-token completion) is the half-open trial of its
        target when one is due: then its outcome closes or re-opens the circuit like a
        request's would. Otherwise it is only a probe."""
        if tier != "validate":
            return None
        targets = self.tracker.targets_of(provider.name)
        if not targets:
            return None
        admission = await self.tracker.admit(targets[0], now, self._timeout(tier))
        if isinstance(admission, Admission) and admission.trial:
            return admission
        return None

    def last(self, name: str) -> dict[str, ProbeResult]:
        return dict(self._last.get(name, {}))

    def supervisor_status(self, name: str) -> dict[str, Any] | None:
        if self.follower is not None:
            return self.follower.status(name)
        sup = self.supervisors.get(name)
        return None if sup is None else sup.status()


def _outcome(result: ProbeResult, admission: Admission) -> Outcome:
    if result.ok:
        return Outcome(ok=True, total_ms=result.ms or 0.0)
    target = admission.target
    failure = Failure(spec(result.code or "unknown_error"), provider=target.provider.name,
                      model=target.model, status=result.status, message=result.detail)
    return Outcome(ok=False, failure=failure, total_ms=result.ms or 0.0)
