"""The resolved config as text for `provider-fallback validate`. Never prints a key.

Besides the chains, it says for each provider which catalog entry and plan applied, and
for each target where its price, limits, context and capabilities came from (the config,
the catalog, or the defaults).
"""

from __future__ import annotations

import dataclasses

from ._durations import format_duration, format_size
from ._model import Config, Policy, Pricing, ProviderSpec, RateLimits, Target

__all__ = ["describe"]

_DURATION_FIELDS = frozenset({"timeout", "connect_timeout", "ttft_timeout", "stall_timeout",
                              "request_deadline", "rate_limit_max_wait", "backoff_base",
                              "backoff_max"})


def describe(config: Config) -> str:
    """Chains with numbered targets, providers with base URL and key status, policy overrides."""
    lines = [f"config: {config.source or '<in code>'}"]
    server = config.server
    lines.append(f"server: http://{server.host}:{server.port}/v1  "
                 f"master_key: {_key_status(server.master_key, server.master_key_source)}  "
                 f"max_body_size: {format_size(server.max_body_size)}")
    lines.append(f"policy: {_policy_text(config.policy, None)}")
    lines.append("providers:")
    for provider in config.providers.values():
        key = "api_key" if provider.key_count < 2 else \
            f"api_key {provider.key_index} of {provider.key_count}"
        parts = [f"  {provider.name}  {provider.base_url}",
                 f"{key}: {_key_status(provider.api_key, provider.api_key_source)}"]
        if provider.headers:
            parts.append(f"headers: {', '.join(provider.headers)}")
        if provider.optional:
            parts.append("optional")
        parts.append(_catalog_text(provider))
        overrides = _policy_text(provider.policy, config.policy)
        if overrides:
            parts.append(overrides)
        lines.append("  ".join(parts))
    lines.append("models:")
    for chain in config.chains.values():
        lines.append(f"  {chain.alias}")
        for n, target in enumerate(chain.targets, 1):
            overrides = _policy_text(target.policy, target.provider.policy)
            lines.append(f"    {n}. {target.key}" + (f"  ({overrides})" if overrides else ""))
            lines.append(f"       {_facts_text(target)}")
    lines.extend(f"warning: {w}" for w in config.warnings)
    return "\n".join(lines)


def _key_status(key: object, source: str | None) -> str:
    if not key:
        return "none"
    return f"set ({source})" if source else "set"


def _policy_text(policy: Policy, base: Policy | None) -> str:
    """All fields (base None) or only the ones that differ from `base`."""
    parts = []
    for f in dataclasses.fields(policy):
        value = getattr(policy, f.name)
        if base is not None and value == getattr(base, f.name):
            continue
        if f.name == "cooldowns":
            if value:
                table = ", ".join(f"{k}={format_duration(v)}" for k, v in value.items())
                parts.append(f"cooldowns={{{table}}}")
        elif f.name in _DURATION_FIELDS:
            parts.append(f"{f.name}={format_duration(value)}")
        else:
            parts.append(f"{f.name}={value}")
    return " ".join(parts)


def _catalog_text(provider: ProviderSpec) -> str:
    from ..catalog import default_catalog

    match = default_catalog().match(provider)
    if match is None:
        text = "catalog: none"
        return text + ("  plan: free (every model free)" if provider.plan == "free" else "")
    entry = match.entry
    text = f"catalog: {entry.name} ({match.reason})"
    if match.old_host:
        text += f" MOVED: now {entry.base_url}"
    if provider.plan is not None:
        return f"{text}  plan: {provider.plan}"
    if len(entry.plans) == 1:
        return f"{text}  plan: {next(iter(entry.plans))}"
    return (f"{text}  plan: not set ({entry.no_plan_price} prices, {entry.no_plan_limits} "
            f"limits; set plan: {' | '.join(entry.plans)})")


def _facts_text(target: Target) -> str:
    """Price, limits, context and capabilities of one target, each with its source."""
    from ..catalog import default_catalog

    shipped = default_catalog().resolve(target.provider, target.model)
    own = target.provider.model_settings.get(target.model, {})
    parts = []
    if target.price is not None:
        parts.append(f"price {_price(target.price)} (config)")
    elif shipped.price is not None:
        parts.append(f"price {_price(shipped.price)} ({shipped.price_source})")
    else:
        parts.append("price unknown (not free: blocked by the budget kill switch)")
    parts.append(_limits_text(target, shipped.limits, shipped.limits_source))
    parts.append(_fact("context", target.context, "context" in own, shipped.context,
                       shipped.entry, None))
    parts.append(_fact("continuation", target.continuation, "continuation" in own,
                       shipped.continuation, shipped.entry, "prefill"))
    parts.append(_fact("stream_usage", target.stream_usage, "stream_usage" in own,
                       shipped.stream_usage, shipped.entry, True))
    if not shipped.cached_tokens_count:
        parts.append(f"cached prompt tokens not counted ({shipped.entry})")
    return "; ".join(parts)


def _price(p: Pricing) -> str:
    if p.free:
        return "free"
    return f"{p.input_per_m:g}/{p.output_per_m:g} USD per 1M in/out"


def _limits_text(target: Target, shipped: RateLimits | None, source: str | None) -> str:
    windows = ("rpm", "rpd", "tpm", "tpd")
    mine = {w: getattr(target.limits, w) for w in windows} if target.limits else {}
    theirs = {w: getattr(shipped, w) for w in windows} if shipped is not None else {}
    configured = [f"{w}={mine[w]}" for w in windows if mine.get(w) is not None]
    catalog = [f"{w}={theirs[w]}" for w in windows
               if mine.get(w) is None and theirs.get(w) is not None]
    out = []
    if configured:
        out.append(f"{' '.join(configured)} (config)")
    if catalog:
        out.append(f"{' '.join(catalog)} ({source})")
    return "limits " + (", ".join(out) if out else "unknown (learned from headers)")


def _fact(name: str, value: object, in_provider: bool, shipped: object, entry: str | None,
          default: object) -> str:
    shown = {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value
    if value is None:
        return f"{name} unknown"
    if in_provider or (shipped is not None and value != shipped) or \
            (shipped is None and value != default):
        return f"{name} {shown} (config)"
    if shipped is not None:
        return f"{name} {shown} (catalog {entry})" if entry else f"{name} {shown} (catalog)"
    return f"{name} {shown} (default)"
