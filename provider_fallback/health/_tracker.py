"""HealthTracker: turns reported outcomes (requests, probes, admin actions) into eligibility.

The request path *reports* (`on_success`, `on_failure`); this class *decides* who may be
tried (`order`, `blocked`, `acquire`) and emits CIRCUIT_*, RESTORED, DEGRADED and friends.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..config import Chain, Config, Target
from ..errors import Failure, Fault, Scope, spec
from ..state import RoutingState
from ..telemetry import EventBus
from ._breaker import Breaker, Circuit, CircuitState

__all__ = ["HealthTracker"]

# Codes in these categories open a circuit at once: the provider (or the network: a refused
# connection, a name that does not resolve) has told us plainly. Probes close it early.
IMMEDIATE = frozenset({"rate_limit", "auth", "quota", "model"})
IMMEDIATE_CODES = frozenset({"connection_refused", "dns_failure", "host_unreachable",
                             "network_unreachable", "provider_moved"})
# What a successful probe tier proves recovered (rate limits and quota keep their own clock).
QUICK_RECOVERS = frozenset({"connection", "timeout", "server", "overload", "stream", "proxy",
                            "gateway"})
FULL_RECOVERS = QUICK_RECOVERS | {"auth"}

HEALTHY, DEGRADED, UNHEALTHY, UNKNOWN = "HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"


class HealthTracker:
    def __init__(self, config: Config, state: RoutingState, events: EventBus, *,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = lambda: 0.5) -> None:
        self.config = config
        self.state = state
        self.events = events
        self.clock = clock
        self.breaker = Breaker(config.circuit, rand)
        self._targets: dict[str, list[Target]] = {name: [] for name in config.providers}
        seen: set[str] = set()
        for chain in config.chains.values():
            for t in chain.targets:
                if t.key not in seen:
                    seen.add(t.key)
                    self._targets[t.provider.name].append(t)
        window = config.health.reliability_window
        self._reliability: dict[str, deque[float]] = {n: deque(maxlen=window) for n in config.providers}
        self._probes: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in config.providers}
        self._degraded: set[str] = set()
        self._p95: dict[str, tuple[int, float | None]] = {}   # key -> (successes, p95 ms)
        self._down: dict[str, float] = {}       # alias -> when every target failed

    # -- eligibility ---------------------------------------------------------------
    def order(self, chain: Chain, now: float) -> list[tuple[Target, str]]:
        """Targets that may be tried now, in order; if none, the one that frees first (bypass)."""
        targets: Iterable[Target] = chain.targets
        forced = self.state.forced()
        if forced is not None:
            pinned = [t for t in chain.targets if t.provider.name == forced]
            if pinned:
                targets = pinned
        if self._degraded:
            targets = self._demote_degraded(list(targets))
        ready: list[tuple[Target, str]] = []
        soonest: tuple[float, Target, str] | None = None
        for t in targets:
            blocked = self.blocked(t, now)
            if blocked is None:
                ready.append((t, ""))
            elif blocked[1] != "disabled" and (soonest is None or blocked[0] < soonest[0]):
                soonest = (blocked[0], t, blocked[1])
        if not ready and soonest is not None:
            until, t, why = soonest
            ready.append((t, f"bypass: every target unavailable ({why}, {max(0.0, until - now):.1f}s left)"))
        return ready

    def blocked(self, target: Target, now: float) -> tuple[float, str] | None:
        """(until, why) if `target` may not be tried now; a pure peek, takes no lease."""
        state = self.state
        name = target.provider.name
        until = state.disabled_until(name)
        if until is not None and until > now:
            return until, "disabled"
        for key in (name, target.key):
            c = state.circuit(key)
            if c is not None and c.state is not CircuitState.CLOSED and c.is_open(now):
                return (c.open_until if c.state is CircuitState.OPEN else c.trial_until), c.code or "open"
        return None

    async def acquire(self, target: Target, now: float, lease: float) -> str | None:
        """Admit `target` (call right after `blocked` said None). Returns a note for the attempt
        list ("" normally, "half-open trial" when this request is the trial), or None if
        another process took the trial first. Awaits the shared state only for a trial."""
        notes = []
        for key in (target.provider.name, target.key):
            c = self.state.circuit(key)
            if c is None or c.state is CircuitState.CLOSED:
                continue
            verdict = self.breaker.admit(c, now, lease)
            if verdict == "open" or (verdict == "trial"
                                     and not await self.state.lease(key, c.trial_until - now)):
                return None
            if verdict == "trial":
                self.state.put_circuit(c)
                self.events.emit("CIRCUIT_HALF_OPEN", key=key, code=c.code)
                notes.append(f"half-open trial of {key}")
        return "; ".join(notes)

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

    # -- reports from the request path ---------------------------------------------
    def _circuit(self, key: str) -> Circuit:
        c = self.state.circuit(key)
        if c is None:
            c = self.breaker.new(key)
            self.state.put_circuit(c)
        return c

    def slow_threshold_ms(self, target: Target) -> float:
        s = self.config.circuit
        if s.slow_call_threshold is not None:
            return s.slow_call_threshold * 1000
        st = self.state.stats(target.key)
        p95 = None
        if st is not None and len(st.latency_ms) >= 20:
            # sorting the latency ring on every answer is the costliest step of the request
            # path: refresh the percentile every 16 answers instead
            cached = self._p95.get(target.key)
            if cached is None or st.successes - cached[0] >= 16:
                cached = self._p95[target.key] = (st.successes, st.latency_percentile(0.95))
            p95 = cached[1]
        ttft = target.policy.ttft_timeout * 1000
        return min(2 * p95, ttft) if p95 else ttft

    def on_success(self, target: Target, ms: float, now: float) -> None:
        slow = ms > self.slow_threshold_ms(target)
        name = target.provider.name
        c = self._circuit(target.key)
        self._close_if_open(c, now, name, target.key, slow)
        pc = self.state.circuit(name)
        if pc is not None and pc.state is not CircuitState.CLOSED:
            self._close_if_open(pc, now, name, target.key, slow)
        self._reliability[name].append(0.5 if slow else 1.0)
        self._update_degraded(target, c, now)

    def _close_if_open(self, c: Circuit, now: float, provider: str, target_key: str,
                       slow: bool) -> None:
        opened_at = c.opened_at
        was = c.state
        if self.breaker.on_success(c, now, slow=slow):
            downtime = round(now - opened_at, 3)
            self.events.emit("CIRCUIT_CLOSED", key=c.key, downtime_s=downtime, was=was.value)
            self.events.emit("RESTORED", provider=provider, target=target_key, downtime_s=downtime)
        self.state.put_circuit(c)

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

    def on_failure(self, target: Target, failure: Failure, now: float) -> None:
        sp = failure.spec
        name = target.provider.name
        self._reliability[name].append(0.0)
        if sp.fault is Fault.CALLER or sp.scope is Scope.NONE:
            return  # the caller's mistake never opens a circuit
        key = name if sp.scope is Scope.PROVIDER else target.key
        self._fail(key, failure, target.policy.cooldown_for(sp.code, sp.cooldown_s), now)
        if key != name:
            pc = self.state.circuit(name)
            if pc is not None and pc.state is CircuitState.HALF_OPEN and pc.trial_until > now:
                # this request was the provider's trial too: it failed
                psp = spec(pc.code or sp.code)
                self._fail(name, failure, target.policy.cooldown_for(psp.code, psp.cooldown_s), now)

    def _fail(self, key: str, failure: Failure, base: float, now: float) -> None:
        sp = failure.spec
        c = self._circuit(key)
        retry_after = failure.retry_after if sp.honours_retry_after else None
        if self.breaker.on_failure(c, now, base=base, retry_after=retry_after,
                                   immediate=sp.category in IMMEDIATE
                                   or sp.code in IMMEDIATE_CODES):
            c.code = sp.code
            self.events.emit("CIRCUIT_OPENED", key=key, code=sp.code,
                             open_s=round(c.open_until - now, 3), reopens=c.reopens,
                             error=failure.message[:200])
        self.state.put_circuit(c)

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
                 models: frozenset[str] | None = None, detail: str = "") -> None:
        if provider not in self._probes:
            return
        now = self.clock()
        entry: dict[str, Any] = {"ok": ok, "code": code, "ms": None if ms is None else round(ms, 2),
                                 "at": time.time(), "detail": detail}
        if models is not None:
            missing = [t.model for t in self._targets[provider] if t.model not in models]
            entry["missing_models"] = missing
        self._probes[provider][tier] = entry
        self._reliability[provider].append(1.0 if ok else 0.0)
        if not ok:
            c = self._circuit(provider)
            if c.state is CircuitState.CLOSED and code is not None:
                sp = spec(code)
                if sp.fault is not Fault.CALLER:
                    self._fail(provider, Failure(sp, provider=provider, message=detail),
                               sp.cooldown_s, now)
            return
        recovers = QUICK_RECOVERS if tier == "quick" else FULL_RECOVERS
        for key in [provider, *(t.key for t in self._targets[provider])]:
            c = self.state.circuit(key)
            if c is None or c.state is not CircuitState.OPEN:
                continue
            category = spec(c.code or "unknown_error").category
            listed = models is not None and key.split("/", 1)[-1] in models
            if category in recovers or (category == "model" and listed):
                if self.breaker.expire_now(c, now):
                    self.state.put_circuit(c)

    def probe_skipped(self, provider: str, tier: str, reason: str) -> None:
        if provider in self._probes:
            self._probes[provider][tier] = {"skipped": reason, "at": time.time()}

    # -- manual control ----------------------------------------------------------------
    def _known(self, provider: str) -> None:
        if provider not in self.config.providers:
            from ..errors import InvalidRequestError
            raise InvalidRequestError(f"unknown provider '{provider}'; known: "
                                      f"{', '.join(self.config.providers)}",
                                      code="not_found", http_status=404)

    def disable(self, provider: str, seconds: float | None = None) -> None:
        self._known(provider)
        now = self.clock()
        self.state.set_disabled(provider, math.inf if seconds is None else now + seconds)
        self.events.emit("PROVIDER_DISABLED", provider=provider, for_s=seconds)

    def enable(self, provider: str) -> None:
        self._known(provider)
        self.state.set_disabled(provider, None)
        self.events.emit("PROVIDER_ENABLED", provider=provider)

    def restore(self, provider: str) -> None:
        """Close every circuit of the provider and lift a disable."""
        self._known(provider)
        now = self.clock()
        self.state.set_disabled(provider, None)
        for key in [provider, *(t.key for t in self._targets[provider])]:
            c = self.state.circuit(key)
            if c is not None and c.state is not CircuitState.CLOSED:
                self.breaker.on_success(c, now)
                self.state.put_circuit(c)
                self.events.emit("CIRCUIT_CLOSED", key=key, downtime_s=round(now - c.opened_at, 3),
                                 was="manual")
        self.events.emit("RESTORED", provider=provider, target=None, manual=True)

    def force(self, provider: str | None) -> None:
        if provider is not None:
            self._known(provider)
        self.state.set_forced(provider)
        self.events.emit("PROVIDER_FORCED" if provider else "PROVIDER_UNFORCED", provider=provider)

    # -- status ------------------------------------------------------------------------
    def reliability(self, provider: str) -> float | None:
        ring = self._reliability[provider]
        return round(sum(ring) / len(ring), 3) if ring else None

    def target_status(self, target: Target, now: float) -> str:
        c = self.state.circuit(target.key)
        if c is not None and c.state is not CircuitState.CLOSED:
            return UNHEALTHY
        if target.key in self._degraded:
            return DEGRADED
        st = self.state.stats(target.key)
        return UNKNOWN if (st is None and c is None) else HEALTHY

    def provider_status(self, provider: str, now: float) -> tuple[str, str]:
        until = self.state.disabled_until(provider)
        if until is not None and until > now:
            return UNHEALTHY, "disabled by an admin"
        c = self.state.circuit(provider)
        if c is not None and c.state is not CircuitState.CLOSED:
            return UNHEALTHY, f"circuit {c.state.value} ({c.code})"
        quick = self._probes[provider].get("quick")
        if quick is not None and quick.get("ok") is False:
            return UNHEALTHY, f"quick ping failed ({quick.get('code')})"
        statuses = [self.target_status(t, now) for t in self._targets[provider]]
        if statuses and all(s == UNHEALTHY for s in statuses):
            return UNHEALTHY, "every model's circuit is open"
        if UNHEALTHY in statuses or DEGRADED in statuses:
            return DEGRADED, "some models unavailable or slow"
        score = self.reliability(provider)
        if score is None and all(s == UNKNOWN for s in statuses):
            return UNKNOWN, "no requests or probes yet"
        if score is not None and score < 0.5:
            return DEGRADED, f"reliability {score}"
        return HEALTHY, ""

    def circuit_view(self, key: str, now: float) -> dict[str, Any]:
        c = self.state.circuit(key)
        if c is None:
            return {"state": "closed"}
        view: dict[str, Any] = {"state": c.state.value}
        if c.state is not CircuitState.CLOSED:
            view.update(code=c.code, reopens=c.reopens, down_s=round(now - c.opened_at, 3),
                        remaining_s=round(max(0.0, c.open_until - now), 3))
        calls, failures, slow = c.window.totals(now)
        view.update(window_calls=calls, window_failures=failures, window_slow=slow)
        return view

    def provider_view(self, provider: str, now: float) -> dict[str, Any]:
        status, why = self.provider_status(provider, now)
        until = self.state.disabled_until(provider)
        return {"status": status, "why": why, "reliability": self.reliability(provider),
                "circuit": self.circuit_view(provider, now),
                "disabled_for_s": None if until is None or until <= now else
                (None if math.isinf(until) else round(until - now, 1)),
                "disabled": until is not None and until > now,
                "forced": self.state.forced() == provider,
                "probes": self._probes[provider]}

    def targets_of(self, provider: str) -> list[Target]:
        return list(self._targets[provider])

    def inherit(self, old: HealthTracker, providers: Iterable[str], targets: Iterable[str]) -> None:
        """Carry over what `old` knew, for a config reload: reliability and probe results of
        `providers`, slow-call marks and p95 of `targets`, chains down and not yet back.
        (Circuits live in the shared RoutingState, which the successor is handed.)"""
        for name in providers:
            if name in self._reliability and name in old._reliability:
                self._reliability[name].extend(old._reliability[name])
                self._probes[name] = old._probes[name]
        keys = set(targets)
        self._degraded |= old._degraded & keys
        self._p95.update({k: v for k, v in old._p95.items() if k in keys})
        self._down.update({a: t for a, t in old._down.items() if a in self.config.chains})
