"""What a target is made of below its own chain entry: its provider's `models:` entry.

Used by the compiler for every chain target and by `Config.resolve` for pass-through
targets ("provider/any-model"), so both see the same facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._model import Pricing, ProviderSpec, RateLimits, Target

__all__ = ["CAPABILITY_KEYS", "capabilities", "limits_of", "price_of_facts", "provider_target"]

CAPABILITY_KEYS = ("continuation", "stream_usage")


def provider_target(provider: ProviderSpec, model: str) -> Target:
    """A target of `model` on `provider` with only provider-level facts (pass-through)."""
    facts = provider.model_settings.get(model, {})
    return Target(provider=provider, model=model, policy=provider.policy,
                  context=facts.get("context"),  # type: ignore[arg-type]
                  limits=limits_of(None, facts.get("limits")),
                  price=price_of_facts(None, None, facts),
                  **capabilities({}, facts))


def capabilities(entry: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    """`continuation` / `stream_usage`: the target mapping's, else the provider's `models:`
    entry's; unset ones are left out (Target's defaults apply)."""
    out: dict[str, Any] = {}
    for key in CAPABILITY_KEYS:
        value = entry.get(key)
        if value is None:
            value = facts.get(key)
        if value is not None:
            out[key] = value
    return out


def limits_of(target: Mapping[str, Any] | None,
              provider_level: Mapping[str, Any] | None) -> RateLimits | None:
    """Target-level limits override the provider's `models:` entry key by key."""
    merged = {**(provider_level or {}), **(target or {})}
    return RateLimits(**merged) if merged else None


def price_of_facts(price: Mapping[str, Any] | None, free: bool | None,
                   facts: Mapping[str, Any]) -> Pricing | None:
    p = price if price is not None else facts.get("price")
    is_free = free if free is not None else facts.get("free")
    if p is None and is_free is None:
        return None
    p = p or {"input": 0.0, "output": 0.0}
    return Pricing(input_per_m=p["input"], output_per_m=p["output"], free=bool(is_free))
