"""HealthTracker: turns reported outcomes (requests, probes, admin actions) into eligibility.

The request path asks (`order`, `blocked`, `admit`) and *reports* once per attempt
(`report`, or `release` for an attempt never sent); this class *decides* who may be tried
and emits CIRCUIT_*, RESTORED, DEGRADED and friends. Admin actions are in `_control.py`,
status views in `_views.py`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..config import Chain, Config, Target
from ..errors import Failure, Fault, OpenClass, Scope, circuit_rule, spec
from ..state import RoutingState
from ..telemetry import EventBus
from ._admission import Admission, Blocked, Outcome
from ._breaker import Breaker, Circuit, CircuitState
from ._control import ManualControl
from ._views import StatusViews

__all__ = ["HealthTracker"]

# Categories no probe can disprove: they keep their own clock (the advertised reset).
OWN_CLOCK = frozenset({"rate_limit", "quota"})
# Failures of one key, not of the host: another key of the same provider may still work.
KEY_OWN = frozenset({"auth", "quota", "rate_limit"})


class HealthTracker(ManualControl, StatusViews):
    def __init__(self, config: Config, state: RoutingState, events: EventBus, *,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = lambda: 0.5,
                 wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.state = state
        self.events = events
        self.clock = clock
        self._wall = wall
        self.breaker = Breaker(config.circuit, rand)
        self._targets: dict[str, list[Target]] = {name: [] for name in config.providers}
        # the other keys of a provider with several: a host-level circuit of one holds all
        self._siblings: dict[str, tuple[str, ...]] = {
            p.name: tuple(q.name for q in config.families[p.family] if q is not p)
            for p in config.providers.values() if p.key_count > 1}
        seen: set[str] = set()
        for chain in config.chains.values():
            for t in chain.targets:
                if t.key not in seen:
                    seen.add(t.key)
                    self._targets[t.provider.name].append(t)
        window = config.health.reliability_window
        self._reliability: dict[str, deque[float]] = {n: deque(maxlen=window) for n in config.providers}
        self._probes: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in config.providers}
        self._probe_failed: dict[str, dict[str, float]] = {n: {} for n in config.providers}
        self._degraded: set[str] = set()
        self._p95: dict[tuple[str, bool], tuple[int, float | None]] = {}
        self._down: dict[str, float] = {}       # alias -> when every target failed

    # -- eligibility ---------------------------------------------------------------
    def order(self, chain: Chain, now: float) -> list[tuple[Target, Blocked | None]]:
        """Every target of the chain in try order (forced pinning and degraded demotion
        applied), each with what blocks it now (None: it may be tried)."""
        targets: Iterable[Target] = chain.targets
        forced = self.state.forced()
        if forced is not None:
            pinned = [t for t in chain.targets if forced in (t.provider.name, t.provider.family)]
            if pinned:
                targets = pinned
        if self._degraded:
            targets = self._demote_degraded(list(targets))
        return [(t, self.blocked(t, now)) for t in targets]

    def blocked(self, target: Target, now: float) -> Blocked | None:
        """What keeps `target` from being tried now; a pure peek, takes no lease."""
        state = self.state
        name = target.provider.name
        until = state.disabled_until(name)
        if until is not None and until > now:
            return Blocked(until, "disabled", None, name)
        for key in (name, target.key):
            c = state.circuit(key)
            if c is not None and c.state is not CircuitState.CLOSED:
                why = self.breaker.blocked(c, now)
                if why is not None:
                    return Blocked(why[1], why[0], c.code, key)
        siblings = self._siblings.get(name)
        return None if siblings is None else self._host_blocked(siblings, target.model, now)

    def _host_blocked(self, siblings: tuple[str, ...], model: str, now: float) -> Blocked | None:
        """Another key's circuit open for the host or the model (a refused connection, a
        timeout, 5xx, a model not found), not for that key (auth, quota, rate limit),
        blocks this key too."""
        for key in (k for sibling in siblings for k in (sibling, f"{sibling}/{model}")):
            c = self.state.circuit(key)
            if c is None or c.state is CircuitState.CLOSED or c.code is None \
                    or spec(c.code).category in KEY_OWN:
                continue
            why = self.breaker.blocked(c, now)
            if why is not None:
                return Blocked(why[1], why[0], c.code, key)
        return None

    def _generations(self, target: Target) -> tuple[tuple[str, int], ...]:
        out = []
        for key in (target.provider.name, target.key):
            c = self.state.circuit(key)
            out.append((key, 0 if c is None else c.generation))
        return tuple(out)

    async def admit(self, target: Target, now: float, lease: float, *,
                    bypass: bool = False) -> Admission | Blocked:
        """Let `target` through now, or say what blocks it. A circuit whose open period is
        over (or that a probe moved to half-open) makes this attempt its trial: the lease
        is taken cluster-wide, and Blocked("trial_in_flight") comes back if another request
        or replica holds it. `bypass`: every target of the chain is unavailable and the
        router picked this one anyway; admitted without a trial, its outcome is statistics
        only. Awaits the shared state only to take a trial."""
        if bypass:
            block = self.blocked(target, now)
            why = "" if block is None else (
                f" ({block.reason} {block.key}"
                + ("" if math.isinf(block.until) else f", {max(0.0, block.until - now):.1f}s left")
                + ")")
            return Admission(target, self._generations(target), bypass=True,
                             note=f"bypass: every target unavailable{why}")
        state = self.state
        name, key = target.provider.name, target.key
        pc, tc = state.circuit(name), state.circuit(key)
        if (pc is None or pc.state is CircuitState.CLOSED) \
                and (tc is None or tc.state is CircuitState.CLOSED):
            # the usual case: neither circuit stands in the way nor holds a trial to take
            # (`blocked` without reading the circuits again)
            until = state.disabled_until(name)
            if until is not None and until > now:
                return Blocked(until, "disabled", None, name)
            siblings = self._siblings.get(name)
            if siblings is not None:
                block = self._host_blocked(siblings, target.model, now)
                if block is not None:
                    return block
            return Admission(target, ((name, 0 if pc is None else pc.generation),
                                      (key, 0 if tc is None else tc.generation)))
        block = self.blocked(target, now)
        if block is not None:
            return block
        trials: list[str] = []
        opened: list[Circuit] = []
        for key in (target.provider.name, target.key):
            c = self.state.circuit(key)
            if c is None or c.state is CircuitState.CLOSED:
                continue
            was_open = self.breaker.take_trial(c, now, lease)
            if not await self.state.lease(key, lease):
                # another replica holds it: until its lease ends we see it in flight too
                self._give_back(trials, self._generations(target))
                return Blocked(c.trial_until, "trial_in_flight", c.code, key)
            self.state.put_circuit(c)
            trials.append(key)
            if was_open:
                opened.append(c)
        for c in opened:
            self.events.emit("CIRCUIT_HALF_OPEN", key=c.key, code=c.code, by="request",
                             generation=c.generation)
        return Admission(target, self._generations(target), trial=tuple(trials),
                         note="; ".join(f"half-open trial of {k}" for k in trials))

    def release(self, admission: Admission, now: float) -> None:
        """The attempt was never sent, or proved nothing: give back any trial it holds."""
        self._give_back(admission.trial, admission.generations)

    def _give_back(self, keys: Iterable[str], generations: tuple[tuple[str, int], ...]) -> None:
        gens = dict(generations)
        for key in keys:
            c = self.state.circuit(key)
            if c is not None and self.breaker.give_back(c, gens.get(key)):
                self.state.unlease(key)
                self.state.put_circuit(c)

    def _demote_degraded(self, targets: list[Target]) -> list[Target]:
        """Within a group of equal explicit `priority`, degraded targets go last."""
        out: list[Target] = []
        i = 0
        while i < len(targets):
            j = i + 1
            prio = targets[i].priority
            while prio is not None and j < len(targets) and targets[j].priority == prio:
                j += 1
            group = targets[i:j]
            out += [t for t in group if t.key not in self._degraded]
            out += [t for t in group if t.key in self._degraded]
            i = j
        return out

    # -- the one report per attempt ------------------------------------------------------
    def report(self, admission: Admission, outcome: Outcome, now: float, *,
               alternatives: bool) -> None:
        """How an admitted attempt ended (a stream: at its end). Records its statistics;
        changes a circuit's state only if the circuit is still at the generation the attempt
        was admitted at. `alternatives`: another target of the chain was available."""
        target = admission.target
        failure = outcome.failure if not outcome.ok else None
        code = "ok" if failure is None else failure.code
        self.state.record(target.key, ok=failure is None, code=code, ms=outcome.total_ms,
                          wall=self._wall(), ttft_ms=outcome.ttft_ms)
        if failure is None:
            self._succeeded(admission, outcome, now)
        else:
            self._failed(admission, failure, now, alternatives)

    def _succeeded(self, adm: Admission, outcome: Outcome, now: float) -> None:
        target = adm.target
        stream = outcome.ttft_ms is not None
        ms = outcome.ttft_ms if stream else outcome.total_ms
        slow = (ms or 0.0) > self.slow_threshold_ms(target, stream=stream)
        name = target.provider.name
        c = self._circuit(target.key)
        for circuit in (self.state.circuit(name), c):
            if circuit is None:
                continue
            opened_at, was = circuit.opened_at, circuit.state
            if self.breaker.on_success(circuit, now, adm.generation(circuit.key),
                                       trial=circuit.key in adm.trial, slow=slow):
                downtime = round(now - opened_at, 3)
                self.events.emit("CIRCUIT_CLOSED", key=circuit.key, downtime_s=downtime,
                                 was=was.value, generation=circuit.generation)
                self.events.emit("RESTORED", provider=name, target=target.key,
                                 downtime_s=downtime)
            self.state.put_circuit(circuit)
        self._reliability[name].append(0.5 if slow else 1.0)
        self._update_degraded(target, c, now)

    def _failed(self, adm: Admission, failure: Failure, now: float, alternatives: bool) -> None:
        target = adm.target
        sp = failure.spec
        name = target.provider.name
        self._reliability[name].append(0.0)
        if circuit_rule(sp) is None:
            # the caller's mistake never opens a circuit; a trial it held proved nothing
            self.release(adm, now)
            return
        key = name if sp.scope is Scope.PROVIDER else target.key
        self._fail(key, failure, target, now, adm.generation(key), trial=key in adm.trial,
                   bypass=adm.bypass, alternatives=alternatives)
        other = target.key if key == name else name
        if other in adm.trial:
            if other == name:
                # this attempt was the provider's trial too: it failed
                pc = self.state.circuit(name)
                self._fail(name, failure, target, now, adm.generation(name), trial=True,
                           code=pc.code if pc is not None else None, alternatives=alternatives)
            else:
                # the provider failed as a whole: the target's own trial proved nothing
                self._give_back((other,), adm.generations)

    def _fail(self, key: str, failure: Failure, target: Target, now: float,
              generation: int | None, *, trial: bool, alternatives: bool,
              bypass: bool = False, code: str | None = None) -> None:
        """Count a failure against circuit `key`; `code`: the registry code whose open-period
        rule applies (default: the failure's own)."""
        sp = spec(code) if code is not None else failure.spec
        rule = circuit_rule(sp) or circuit_rule(failure.spec)
        if rule is None:
            return
        c = self._circuit(key)
        retry_after = failure.retry_after if failure.spec.honours_retry_after else None
        base = target.policy.cooldown_for(sp.code, self.breaker.base(rule.open_class,
                                                                     sp.cooldown_s))
        if self.breaker.on_failure(c, now, generation, rule=rule, base=base,
                                   retry_after=retry_after, alternatives=alternatives,
                                   trial=trial, bypass=bypass):
            c.code = code or failure.code
            self.events.emit("CIRCUIT_OPENED", key=key, code=c.code,
                             open_s=round(c.open_until - now, 3), reopens=c.reopens,
                             open_class=rule.open_class.value, generation=c.generation,
                             error=failure.message)
        self.state.put_circuit(c)

    def _circuit(self, key: str) -> Circuit:
        c = self.state.circuit(key)
        if c is None:
            c = self.breaker.new(key)
            self.state.put_circuit(c)
        return c

    def slow_threshold_ms(self, target: Target, *, stream: bool = False) -> float:
        """Slower than this is a slow call: `slow_call_threshold`, else 2x the target's p95
        (of time to first token for streams, of total time otherwise), at most ttft_timeout."""
        s = self.config.circuit
        if s.slow_call_threshold is not None:
            return s.slow_call_threshold * 1000
        st = self.state.stats(target.key)
        p95 = None
        ring = None if st is None else (st.ttft_ms if stream else st.latency_ms)
        if st is not None and ring is not None and len(ring) >= 20:
            # sorting the latency ring on every answer is the costliest step of the request
            # path: refresh the percentile every 16 answers instead
            key = (target.key, stream)
            cached = self._p95.get(key)
            if cached is None or st.successes - cached[0] >= 16:
                pct = st.ttft_percentile(0.95) if stream else st.latency_percentile(0.95)
                cached = self._p95[key] = (st.successes, pct)
            p95 = cached[1]
        ttft = target.policy.ttft_timeout * 1000
        return min(2 * p95, ttft) if p95 else ttft

    def _update_degraded(self, target: Target, c: Circuit, now: float) -> None:
        s = self.config.circuit
        calls, _, slow = c.window.totals(now)
        degraded = calls >= s.min_calls and slow / calls >= s.slow_call_rate
        if degraded and target.key not in self._degraded:
            self._degraded.add(target.key)
            self.events.emit("DEGRADED", target=target.key, slow_calls=slow, calls=calls,
                             threshold_ms=round(self.slow_threshold_ms(target), 1))
        elif not degraded and target.key in self._degraded:
            self._degraded.discard(target.key)

    def chain_exhausted(self, alias: str, now: float, attempts: list[dict[str, Any]]) -> None:
        if alias not in self._down:
            self._down[alias] = now
            self.events.emit("ALL_DOWN", alias=alias, attempts=attempts)

    def chain_answered(self, alias: str, now: float, target: Target) -> None:
        since = self._down.pop(alias, None)
        if since is not None:
            self.events.emit("RECOVERED", alias=alias, by=target.key, downtime_s=round(now - since, 3))

    # -- reports from probes ---------------------------------------------------------
    def on_probe(self, provider: str, tier: str, *, ok: bool, code: str | None, ms: float | None,
                 models: frozenset[str] | None = None, detail: str = "",
                 started: float | None = None) -> None:
        """A probe's result. A failure counts against the provider circuit (a refused
        connection opens it at once). A success moves an open circuit to half-open only if
        the probe started after the circuit opened and its tier can disprove what opened
        it (`disproves`); it never closes a circuit, never shortens an open period
        otherwise, and never undoes the growth of the open period."""
        if provider not in self._probes:
            return
        now = self.clock()
        started = now if started is None else started
        entry: dict[str, Any] = {"ok": ok, "code": code, "ms": None if ms is None else round(ms, 2),
                                 "at": self._wall(), "detail": detail}
        if models is not None:
            missing = [t.model for t in self._targets[provider] if t.model not in models]
            entry["missing_models"] = missing
        self._probes[provider][tier] = entry
        self._reliability[provider].append(1.0 if ok else 0.0)
        if not ok:
            self._probe_failed[provider][tier] = now
            c = self._circuit(provider)
            if c.state is CircuitState.CLOSED and code is not None:
                sp = spec(code)
                if sp.fault is not Fault.CALLER and self._targets[provider]:
                    self._fail(provider, Failure(sp, provider=provider, message=detail),
                               self._targets[provider][0], now, c.generation, trial=False,
                               alternatives=False)
            return
        for key in [provider, *(t.key for t in self._targets[provider])]:
            c = self.state.circuit(key)
            if c is None or c.state is not CircuitState.OPEN or started < c.changed_at:
                continue
            if self.disproves(provider, tier, c, models) and self.breaker.probe_half_open(c, now):
                self.state.put_circuit(c)
                self.events.emit("CIRCUIT_HALF_OPEN", key=key, code=c.code, by=f"probe:{tier}",
                                 generation=c.generation)

    def disproves(self, provider: str, tier: str, c: Circuit,
                  models: frozenset[str] | None) -> bool:
        """Can a successful `tier` probe of `provider` show that what opened `c` is over?
        A ping reaching the host disproves a network fault; a full check with the key also
        disproves a rejected key, and a missing model if it is listed; a completion
        (validate) disproves all but rate limits and quota. A server error, overload,
        timeout or broken stream of completions is disproved by a probe only if that very
        probe tier failed during this outage too: a `/models` that answered all along says
        nothing about completions that 503."""
        sp = spec(c.code or "unknown_error")
        if sp.category in OWN_CLOCK:
            return False
        if tier == "validate" or (sp.fault is Fault.NETWORK and sp.category != "stream"):
            return True
        if tier == "full" and (sp.category == "auth" or (
                sp.category == "model" and models is not None
                and c.key.split("/", 1)[-1] in models)):
            return True
        rule = circuit_rule(sp)
        failed_at = self._probe_failed[provider].get(tier)
        return (rule is not None and rule.open_class is OpenClass.TRANSIENT
                and failed_at is not None and failed_at >= c.opened_at)

    def probe_skipped(self, provider: str, tier: str, reason: str) -> None:
        if provider in self._probes:
            self._probes[provider][tier] = {"skipped": reason, "at": self._wall()}

    def inherit(self, old: HealthTracker, providers: Iterable[str], targets: Iterable[str]) -> None:
        """Carry over what `old` knew, for a config reload: reliability and probe results of
        `providers`, slow-call marks and p95 of `targets`, chains down and not yet back.
        (Circuits live in the shared RoutingState, which the successor is handed.)"""
        for name in providers:
            if name in self._reliability and name in old._reliability:
                self._reliability[name].extend(old._reliability[name])
                self._probes[name] = old._probes[name]
                self._probe_failed[name] = old._probe_failed[name]
        keys = set(targets)
        self._degraded |= old._degraded & keys
        self._p95.update({k: v for k, v in old._p95.items() if k[0] in keys})
        self._down.update({a: t for a, t in old._down.items() if a in self.config.chains})
