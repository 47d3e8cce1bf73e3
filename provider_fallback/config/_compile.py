"""Validated pieces -> the frozen Config, with the checks that span sections.

Policy merge order: defaults < global `policy:` < provider level (shorthand keys, then the
provider's `policy:`) < target mapping overrides. Cooldown tables merge key by key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._secret import Secret
from ..errors._registry import REGISTRY
from ._bind import MASTER_KEY_FIX, bind_problem, master_key_problem
from ._env import is_sensitive_header
from ._facts import CAPABILITY_KEYS, capabilities, catalog_facts, limits_of, price_of_facts
from ._model import (
    AlertSettings,
    AlertSink,
    BudgetSettings,
    Chain,
    CircuitSettings,
    Config,
    ContinuationSettings,
    HealthSettings,
    LoggingSettings,
    MetricsSettings,
    Policy,
    ProviderSpec,
    QueueSettings,
    ServerSettings,
    StateSettings,
    SupervisorSpec,
    Target,
    TelemetrySettings,
)
from ._problems import Problem, did_you_mean
from ._schema import (
    AlertsModel,
    BudgetModel,
    CircuitModel,
    ContinuationModel,
    HealthModel,
    LoggingModel,
    MetricsModel,
    PolicyModel,
    ProviderModel,
    QueueModel,
    ServerModel,
    StateModel,
    TargetModel,
    TelemetryModel,
)

__all__ = ["Parsed", "compile_config", "merge_policy"]

_LITELLM_PORT = 4000


@dataclass
class Parsed:
    """What validated, by position, so cross-check problems can name the exact key path."""

    server: ServerModel = field(default_factory=ServerModel)
    policy: PolicyModel = field(default_factory=PolicyModel)
    health: HealthModel = field(default_factory=HealthModel)
    circuit: CircuitModel = field(default_factory=CircuitModel)
    budget: BudgetModel = field(default_factory=BudgetModel)
    queue: QueueModel = field(default_factory=QueueModel)
    telemetry: TelemetryModel = field(default_factory=TelemetryModel)
    metrics: MetricsModel = field(default_factory=MetricsModel)
    alerts: AlertsModel = field(default_factory=AlertsModel)
    logging: LoggingModel = field(default_factory=LoggingModel)
    state: StateModel = field(default_factory=StateModel)
    continuation: ContinuationModel = field(default_factory=ContinuationModel)
    chain_continuation: dict[str, bool | None] = field(default_factory=dict)
    providers: list[tuple[int, ProviderModel]] = field(default_factory=list)
    invalid_provider_names: set[str] = field(default_factory=set)  # already reported
    skipped: dict[str, str] = field(default_factory=dict)           # name -> missing variables
    chains: dict[str, list[tuple[int, TargetModel | None]]] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)        # key path -> env reference
    warnings: list[str] = field(default_factory=list)


def merge_policy(base: Policy, overrides: Mapping[str, Any]) -> Policy:
    """`base` with `overrides` applied; `cooldowns` entries are added to the base table."""
    if not overrides:
        return base
    changes = dict(overrides)
    if "cooldowns" in changes:
        changes["cooldowns"] = MappingProxyType({**base.cooldowns, **changes["cooldowns"]})
    return dataclasses.replace(base, **changes)


def compile_config(parsed: Parsed, source: str | None) -> tuple[Config | None, list[Problem]]:
    """The Config, or the cross-section problems that prevent it."""
    problems: list[Problem] = []
    problems += _check_cooldowns(parsed.policy, "policy")
    policy = merge_policy(Policy(), parsed.policy.overrides())
    server = _server(parsed, problems)
    providers = _providers(parsed, policy, problems)
    chains = _chains(parsed, providers, problems)
    if problems:
        return None, problems
    return Config(server=server, policy=policy, providers=MappingProxyType(providers),
                  chains=MappingProxyType(chains), source=source,
                  warnings=tuple(parsed.warnings),
                  health=HealthSettings(**parsed.health.model_dump()),
                  circuit=CircuitSettings(**parsed.circuit.model_dump()),
                  budget=BudgetSettings(**parsed.budget.model_dump()),
                  queue=QueueSettings(**parsed.queue.model_dump()),
                  telemetry=TelemetrySettings(**parsed.telemetry.model_dump()),
                  metrics=MetricsSettings(**parsed.metrics.model_dump()),
                  alerts=_alerts(parsed.alerts),
                  logging=LoggingSettings(**parsed.logging.model_dump()),
                  state=_state(parsed.state),
                  continuation=ContinuationSettings(**parsed.continuation.model_dump())), []


def _state(model: StateModel) -> StateSettings:
    values = model.model_dump()
    url = values.pop("url")
    return StateSettings(**values, url=None if url is None else Secret(url))


def _alerts(model: AlertsModel) -> AlertSettings:
    sinks = tuple(AlertSink(Secret(w.url), w.format, None if w.alerts is None else frozenset(w.alerts))
                  for w in model.webhooks)
    return AlertSettings(webhooks=sinks, provider_down_after=model.provider_down_after,
                         high_fallback_rate=model.high_fallback_rate,
                         repeat_after=model.repeat_after, max_per_minute=model.max_per_minute)


def _server(parsed: Parsed, problems: list[Problem]) -> ServerSettings:
    model = parsed.server
    key = Secret(model.master_key) if model.master_key else None
    why = master_key_problem(key) or bind_problem(model.host, key)
    if why is not None:
        problems.append(Problem("server.master_key", why, MASTER_KEY_FIX))
    if model.port == _LITELLM_PORT:
        parsed.warnings.append("server.port is 4000, where a LiteLLM proxy usually listens; "
                               "the gateway's default is 4100")
    if "*" in model.cors_origins and key is None:
        problems.append(Problem("server.cors_origins", "cors_origins: [\"*\"] lets every web "
                                "page drive the gateway, and there is no master key",
                                "list the origins that may call the gateway, or set "
                                "server.master_key"))
    source = parsed.sources.get("server.master_key", "literal") if key else None
    return ServerSettings(host=model.host, port=model.port, master_key=key,
                          max_body_size=model.max_body_size, master_key_source=source,
                          max_header_size=model.max_header_size, max_headers=model.max_headers,
                          header_timeout=model.header_timeout, body_timeout=model.body_timeout,
                          keep_alive_timeout=model.keep_alive_timeout,
                          max_connections=model.max_connections,
                          linger_timeout=model.linger_timeout, linger_size=model.linger_size,
                          cors_origins=tuple(model.cors_origins),
                          max_passthrough_models=model.max_passthrough_models,
                          watch_config=model.watch_config)


def _providers(parsed: Parsed, policy: Policy,
               problems: list[Problem]) -> dict[str, ProviderSpec]:
    providers: dict[str, ProviderSpec] = {}
    first_index: dict[str, int] = {}
    for index, model in parsed.providers:
        path = f"providers[{index}]"
        if model.name in first_index or model.name in parsed.skipped:
            where = (f"providers[{first_index[model.name]}]" if model.name in first_index
                     else "a skipped optional provider")
            problems.append(Problem(f"{path}.name", f"duplicate provider name '{model.name}' "
                                    f"(also {where})", "give every provider a unique name"))
            continue
        first_index[model.name] = index
        spec = _provider(model, path, policy, parsed.sources, problems, parsed.warnings)
        for each in _keys(spec, model, path, parsed.sources):
            providers[each.name] = each
    if not providers and not parsed.skipped and not parsed.invalid_provider_names:
        problems.append(Problem("providers", "no providers configured",
                                "add at least one `- name: ...\n    base_url: ...` entry"))
    return providers


def _provider(model: ProviderModel, path: str, policy: Policy, sources: Mapping[str, str],
              problems: list[Problem], warnings: list[str]) -> ProviderSpec:
    shorthand = model.level_overrides()
    nested = model.policy.overrides() if model.policy is not None else {}
    for key in sorted(shorthand.keys() & nested.keys()):
        problems.append(Problem(f"{path}.{key}", f"set both as `{key}:` and under `policy:`",
                                f"keep only one of {path}.{key} and {path}.policy.{key}"))
    if model.policy is not None:
        problems.extend(_check_cooldowns(model.policy, f"{path}.policy"))
    merged = merge_policy(merge_policy(policy, shorthand), nested)
    headers: dict[str, Secret | str] = {
        name: Secret(value) if (f"{path}.headers.{name}" in sources
                                or is_sensitive_header(name, value)) else value
        for name, value in model.headers.items()
    }
    several = isinstance(model.api_key, list)
    first = model.api_key[0] if several else model.api_key   # type: ignore[index]
    api_key = Secret(first) if first else None
    key_path = f"{path}.api_key[0]" if several else f"{path}.api_key"
    key_source = sources.get(key_path, "literal") if api_key else None
    sup = model.supervise
    supervise = None if sup is None else SupervisorSpec(
        command=tuple(sup.command), cwd=sup.cwd, env=MappingProxyType(dict(sup.env)),
        restart_on_unhealthy=sup.restart_on_unhealthy,
        max_restarts_per_hour=sup.max_restarts_per_hour, startup_grace=sup.startup_grace)
    _check_catalog(model, path, problems, warnings)
    return ProviderSpec(name=model.name, base_url=model.base_url, api_key=api_key,
                        headers=MappingProxyType(headers), policy=merged,
                        optional=model.optional, probe=model.probe,
                        max_connections=model.max_connections, api_key_source=key_source,
                        health_path=model.health_path, validate_calls=model.validate_calls,
                        supervise=supervise, api=model.api,
                        model_settings=MappingProxyType({
                            mid: MappingProxyType(ms.model_dump(exclude_none=True))
                            for mid, ms in model.models.items()}),
                        plan=model.plan, catalog=model.catalog)


def _keys(spec: ProviderSpec, model: ProviderModel, path: str,
          sources: Mapping[str, str]) -> list[ProviderSpec]:
    """One ProviderSpec per key of `api_key: [...]`: `name` for the first, `name#2`, ...
    for the others; each has its own circuits and rate ledger. A supervised upstream is
    started once (by the first)."""
    keys = model.api_key if isinstance(model.api_key, list) else None
    if keys is None or len(keys) < 2:
        return [spec]
    count = len(keys)
    return [dataclasses.replace(
        spec, name=spec.name if i == 0 else f"{spec.name}#{i + 1}", family=spec.name,
        key_index=i + 1, key_count=count, api_key=Secret(key),
        api_key_source=sources.get(f"{path}.api_key[{i}]", "literal"),
        supervise=spec.supervise if i == 0 else None) for i, key in enumerate(keys)]


def _check_catalog(model: ProviderModel, path: str, problems: list[Problem],
                   warnings: list[str]) -> None:
    """`catalog:` names an entry; `plan:` is one of its plans (or `free` without one); a
    base URL on a provider's old host gets a warning with the current one."""
    from ..catalog import NONE, CatalogError, default_catalog

    try:
        catalog = default_catalog()
    except CatalogError as exc:
        problems.append(Problem(None, f"provider catalog: {exc}",
                                "fix the catalog file (or unset $PROVIDER_FALLBACK_CATALOG_DIR)"))
        return
    names = sorted(catalog.entries)
    if model.catalog is not None and model.catalog != NONE and model.catalog not in catalog.entries:
        problems.append(Problem(f"{path}.catalog", f"unknown catalog entry '{model.catalog}'"
                                f"{did_you_mean(model.catalog, names)} (known: "
                                f"{', '.join(names)})",
                                f"use one of them, or `catalog: {NONE}` for none"))
        return
    probe = ProviderSpec(name=model.name, base_url=model.base_url, catalog=model.catalog)
    match = catalog.match(probe)
    if match is not None and match.old_host:
        warnings.append(f"{path}.base_url: {model.base_url} is {match.entry.title}'s old "
                        f"address (it redirects, and the key is not sent to another host); "
                        f"set base_url: {match.entry.base_url}")
    if model.plan is None:
        return
    if match is None:
        if model.plan != "free":
            problems.append(Problem(f"{path}.plan", f"plan '{model.plan}': no catalog entry "
                                    f"applies to {model.base_url}, so only `plan: free` "
                                    "(every model costs nothing) means something",
                                    "write `plan: free`, remove the key, or name the entry "
                                    "with `catalog: NAME`"))
        return
    plans = list(match.entry.plans)
    if model.plan not in plans:
        problems.append(Problem(f"{path}.plan", f"'{model.plan}' is not a plan of "
                                f"{match.entry.title}{did_you_mean(model.plan, plans)} "
                                f"(plans: {', '.join(plans)})",
                                f"use one of {', '.join(plans)}"))


def _chains(parsed: Parsed, providers: Mapping[str, ProviderSpec],
            problems: list[Problem]) -> dict[str, Chain]:
    chains: dict[str, Chain] = {}
    known = sorted({p.family for p in providers.values()} | parsed.invalid_provider_names
                   | set(parsed.skipped))
    for alias, entries in parsed.chains.items():
        path = f"models.{alias}"
        targets: list[Target] = []
        dropped: set[str] = set()
        broken = False  # some entry already has its own problem
        for j, entry in entries:
            provider = providers.get(entry.provider) if entry is not None else None
            if entry is None or provider is None:
                if entry is not None and entry.provider in parsed.skipped:
                    dropped.add(entry.provider)
                    continue
                broken = True
                if entry is not None and entry.provider not in parsed.invalid_provider_names:
                    problems.append(_unknown_provider(f"{path}[{j}].provider", entry.provider,
                                                      known))
                continue
            problems.extend(_check_cooldowns(entry, f"{path}[{j}]"))
            for each in _family(providers, provider):
                targets.append(_target(each, entry))
        if targets:
            chains[alias] = Chain(alias, tuple(targets),
                                  continuation=parsed.chain_continuation.get(alias))
        if targets and dropped:
            parsed.warnings.append(f"{path}: targets on skipped provider(s) "
                                   f"{', '.join(sorted(dropped))} removed from the chain")
        elif dropped and not broken:
            problems.append(_emptied(path, dropped, parsed.skipped))
    return chains


def _family(providers: Mapping[str, ProviderSpec], provider: ProviderSpec) -> list[ProviderSpec]:
    """A target on a provider with several keys is one target per key, side by side (the
    router tries the one with most headroom first); `name#2` pins one key."""
    if provider.key_count < 2 or provider.name != provider.family:
        return [provider]
    return [provider] + [providers[f"{provider.family}#{i}"]
                         for i in range(2, provider.key_count + 1)]


def _target(provider: ProviderSpec, entry: TargetModel) -> Target:
    facts = provider.model_settings.get(entry.model, {})
    own = entry.model_dump(exclude_none=True, include=set(CAPABILITY_KEYS))
    shipped = catalog_facts(provider, entry.model)
    return Target(provider=provider, model=entry.model,
                  context=entry.context or facts.get("context")  # type: ignore[arg-type]
                  or shipped.context,
                  priority=entry.priority,
                  limits=limits_of(entry.limits.model_dump(exclude_none=True)
                                   if entry.limits else None,
                                   facts.get("limits")),  # type: ignore[arg-type]
                  price=price_of_facts(entry.price.model_dump() if entry.price else None,
                                       entry.free, facts),
                  policy=merge_policy(provider.policy, entry.overrides()),
                  **capabilities(own, facts, shipped))


def _unknown_provider(key: str, name: str, known: list[str]) -> Problem:
    listing = ", ".join(known) if known else "none"
    return Problem(key, f"unknown provider '{name}'{did_you_mean(name, known)} "
                        f"(known providers: {listing})",
                   "use one of the names under `providers:` or add that provider")


def _emptied(path: str, dropped: set[str], skipped: Mapping[str, str]) -> Problem:
    why = "; ".join(f"{name}: {skipped[name]} not set" for name in sorted(dropped))
    return Problem(path, f"every target of this chain is on a skipped optional provider ({why})",
                   "set the missing environment variables or add a target on another provider")


def _check_cooldowns(model: PolicyModel, path: str) -> list[Problem]:
    return [Problem(f"{path}.cooldowns.{code}",
                    f"unknown error code '{code}'{did_you_mean(code, REGISTRY)}",
                    "use a registry code such as rate_limit, invalid_api_key, server_error")
            for code in (model.cooldowns or {}) if code not in REGISTRY]
