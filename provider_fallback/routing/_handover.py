"""A config reload without a restart: a successor Router that carries on from the old one.

`successor(old, config)` builds a Router for the new config over the same state backend
(circuits, leases, disables and stats are keyed by strings there), the same event bus and
request listeners, the same rate ledger (keyed by "provider/model": counts and learned
windows of a target survive a new Target object) and the same spend ledger. Health
knowledge of providers and targets whose config did not change is inherited; a provider
whose address, key or plan changed starts afresh (its circuits closed, its learned limits
forgotten): whatever went wrong may be what the edit fixed. Supervised upstreams whose
spec is unchanged keep running.

Connection pools of unchanged providers are shared with the successor (no reconnects).
The caller swaps its reference for new requests; `retire(old)` then waits for the old
router's in-flight requests (a stream counts until its last chunk) and closes the pools
nobody else uses.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

from .._loop import running_loop
from ..config import Config, ProviderSpec
from ._router import Router

__all__ = ["Changes", "RESTART_SECTIONS", "changes", "retire", "successor"]

log = logging.getLogger("provider_fallback.reload")

# settings read once at start: a reload keeps the running ones and says so
RESTART_SECTIONS = ("server.host", "server.port", "server.max_body_size", "state", "telemetry",
                    "metrics", "logging", "budget.data_dir", "alerts")


@dataclass
class Changes:
    """What a reload changes, by name (never a value: keys stay out of it)."""

    providers_added: list[str] = field(default_factory=list)
    providers_removed: list[str] = field(default_factory=list)
    providers_changed: list[str] = field(default_factory=list)
    providers_reset: list[str] = field(default_factory=list)   # address, key or plan changed
    chains_added: list[str] = field(default_factory=list)
    chains_removed: list[str] = field(default_factory=list)
    chains_changed: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)              # policy, health, circuit, ...

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f) for f in self.__dataclass_fields__)

    def as_dict(self) -> dict[str, Any]:
        return {f: list(getattr(self, f)) for f in self.__dataclass_fields__}


def changes(old: Config, new: Config) -> Changes:
    out = Changes()
    for name, spec in new.providers.items():
        before = old.providers.get(name)
        if before is None:
            out.providers_added.append(name)
        elif before != spec:
            out.providers_changed.append(name)
            if _identity(before) != _identity(spec):
                out.providers_reset.append(name)
    out.providers_removed = [n for n in old.providers if n not in new.providers]
    for alias, chain in new.chains.items():
        before = old.chains.get(alias)
        if before is None:
            out.chains_added.append(alias)
        elif before != chain:
            out.chains_changed.append(alias)
    out.chains_removed = [a for a in old.chains if a not in new.chains]
    restart = {"server.host": (old.server.host, new.server.host),
               "server.port": (old.server.port, new.server.port),
               "server.max_body_size": (old.server.max_body_size, new.server.max_body_size),
               "state": (old.state, new.state), "telemetry": (old.telemetry, new.telemetry),
               "metrics": (old.metrics, new.metrics), "logging": (old.logging, new.logging),
               "budget.data_dir": (old.budget.data_dir, new.budget.data_dir),
               "alerts": (old.alerts, new.alerts)}
    out.restart_needed = [k for k, (a, b) in restart.items() if a != b]
    for name in ("policy", "health", "circuit", "queue"):
        if getattr(old, name) != getattr(new, name):
            out.other.append(name)
    if (old.budget.monthly_usd, old.budget.daily_usd, old.budget.warning, old.budget.critical) != \
            (new.budget.monthly_usd, new.budget.daily_usd, new.budget.warning, new.budget.critical):
        out.other.append("budget")
    if old.server.master_key != new.server.master_key:
        out.other.append("server.master_key")
    return out


def _identity(p: ProviderSpec) -> tuple[Any, ...]:
    """What makes a provider "the same account at the same place" for its learned state."""
    return (p.base_url, p.api_key, p.plan, p.catalog)


async def successor(old: Router, config: Config) -> tuple[Router, Changes]:
    """A started Router for `config` that carries on from `old` (which keeps serving its
    in-flight requests until `retire`)."""
    diff = changes(old.config, config)
    # settings that need a restart keep their running value
    if "state" in diff.restart_needed or "budget.data_dir" in diff.restart_needed:
        log.warning("reload: %s changed; the running values stay until a restart",
                    ", ".join(diff.restart_needed))
    new = Router(config, state=old.state, events=old.events, clock=old._clock,
                 sleep=old._sleep, rand=old._rand, monitor=False)
    new.requests = old.requests
    _share_pools(old, new)
    # the new router's parts are wired to its own Accounting: hand that one the old ledgers
    acct = new.accounting
    acct.limits = old.accounting.limits
    budget = old.accounting.budget
    if budget is not None:
        acct._spend = old.accounting._spend
        old.accounting._spend = None     # still charged by in-flight answers; closed by `new`
        if budget.settings != config.budget:
            from ..budget import Budget

            budget = Budget(config.budget, budget.ledger, old.events)
        await acct.open(budget)
    kept = {t.key for c in config.chains.values() for t in c.targets
            if t.provider.name not in diff.providers_reset}
    for name in ("no_prefill", "no_stream_usage"):     # what targets turned out not to take
        book = getattr(new.learned, name, None)
        if book is not None:
            book.update(k for k in getattr(old.learned, name) if k in kept)
    _carry_health(old, new, diff)
    await _handover_monitor(old, new)
    return new, diff


def _carry_health(old: Router, new: Router, diff: Changes) -> None:
    reset = set(diff.providers_reset)
    same_providers = [n for n in new.config.providers if n in old.config.providers
                      and n not in reset]
    targets = {t.key for c in new.config.chains.values() for t in c.targets
               if t.provider.name in same_providers}
    new.health.inherit(old.health, same_providers, targets)
    for name in reset:     # the edit may be the fix: no cooldown, no learned limits
        keys = [name, *(t.key for t in old.health.targets_of(name))]
        for key in keys:
            if new.state.circuit(key) is not None:
                new.state.put_circuit(new.health.breaker.new(key))
        for target in old.health.targets_of(name):
            new.accounting.limits.forget(target)
        log.info("reload: provider %s changed address, key or plan: its circuits and learned "
                 "limits start afresh", name)


async def _handover_monitor(old: Router, new: Router) -> None:
    """Probes move to a monitor for the new config at once (one set of probes, never two);
    supervised upstreams with an unchanged spec move over running, the others are stopped
    before their successors start (they may want the same port)."""
    from ..health._monitor import HealthMonitor

    enabled = new.config.health.enabled
    new._want_monitor = enabled
    kept: dict[str, Any] = {}
    if old.monitor is not None:
        for name, sup in list(old.monitor.supervisors.items()):
            spec = new.config.providers.get(name)
            if enabled and spec is not None and spec.supervise == sup.spec:
                kept[name] = old.monitor.supervisors.pop(name)
        await old.monitor.stop()
        old.monitor = None
    if not enabled:
        return
    monitor = HealthMonitor(new.config, new.health, events=new.events)
    for name in kept:
        monitor.supervisors.pop(name, None)     # the fresh one is never started
    await monitor.start()
    monitor.supervisors.update(kept)
    new.monitor = monitor


# how many routers use each connection pool: an unchanged provider's pool moves to the
# successor (no reconnect storm at 200 req/s), and closes when its last user retires
_POOL_USERS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _share_pools(old: Router, new: Router) -> None:
    """Providers that still reach the same origin the same way (URL and proxy; the key and
    headers are the new client's own) keep their keep-alive connections."""
    for name in new.config.providers:
        pool = new._client.adopt(name, old._client)
        if pool is not None:
            _POOL_USERS[pool] = _POOL_USERS.get(pool, 1) + 1


async def _release_pools(old: Router) -> None:
    for pool in old._client.pools():
        users = _POOL_USERS.get(pool, 1) - 1
        if users > 0:
            _POOL_USERS[pool] = users
        else:
            _POOL_USERS.pop(pool, None)
            await pool.aclose()
    old._client.forget_pools()


async def retire(old: Router, *, poll: float = 0.05) -> None:
    """Once `old` has no request in flight (or its longest deadline passed), close what only
    it owns: the connection pools no successor shares. The state backend, ledgers and event
    bus live on in its successor (its probes moved over already)."""
    loop = running_loop()
    give_up = loop.time() + old.config.policy.request_deadline + 5.0
    while old.inflight > 0 and loop.time() < give_up:
        await asyncio.sleep(poll)
    await _release_pools(old)
