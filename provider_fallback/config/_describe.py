"""The resolved config as text for `provider-fallback validate`. Never prints a key."""

from __future__ import annotations

import dataclasses

from ._durations import format_duration, format_size
from ._model import Config, Policy

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
        parts = [f"  {provider.name}  {provider.base_url}",
                 f"api_key: {_key_status(provider.api_key, provider.api_key_source)}"]
        if provider.headers:
            parts.append(f"headers: {', '.join(provider.headers)}")
        if provider.optional:
            parts.append("optional")
        overrides = _policy_text(provider.policy, config.policy)
        if overrides:
            parts.append(overrides)
        lines.append("  ".join(parts))
    lines.append("models:")
    for chain in config.chains.values():
        lines.append(f"  {chain.alias}")
        for n, target in enumerate(chain.targets, 1):
            extra = []
            if target.context is not None:
                extra.append(f"context={target.context}")
            overrides = _policy_text(target.policy, target.provider.policy)
            if overrides:
                extra.append(overrides)
            lines.append(f"    {n}. {target.key}" + (f"  ({', '.join(extra)})" if extra else ""))
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
