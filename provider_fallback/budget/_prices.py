"""What a target costs: configured prices first, then the shipped `data/prices.yaml`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..config import Pricing, Target
from ..config._text import read_text_file

__all__ = ["FREE", "PriceTable", "cost_usd", "default_prices", "is_free", "price_of"]

FREE = Pricing(0.0, 0.0, free=True)

_NO_HOSTS: Mapping[str, Mapping[str, Pricing]] = MappingProxyType({})
_NO_RULES: Mapping[str, str] = MappingProxyType({})
_NO_MODELS: Mapping[str, Pricing] = MappingProxyType({})
_CACHE_SIZE = 4096  # pass-through "provider/<any model>" requests must not grow it forever


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Default prices keyed by base-url host and model id, plus two rules.

    `free_suffixes`: on that host a model id ending with the suffix is free (OpenRouter's
    `:free`). `model_prefixes`: a model id starting with the prefix (a LiteLLM proxy's
    `groq/llama-3.3-70b-versatile`, on any host) is priced by that host's table.
    """

    hosts: Mapping[str, Mapping[str, Pricing]] = field(default_factory=lambda: _NO_HOSTS)
    free_suffixes: Mapping[str, str] = field(default_factory=lambda: _NO_RULES)
    model_prefixes: Mapping[str, str] = field(default_factory=lambda: _NO_RULES)
    # (base_url, model) -> price; lookups run per answer and per target under the kill switch
    _cache: dict[tuple[str, str], Pricing | None] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceTable:
        """Build from the `prices.yaml` layout; raises ValueError naming the bad entry."""
        hosts: dict[str, Mapping[str, Pricing]] = {}
        for host, models in (data.get("hosts") or {}).items():
            hosts[str(host).lower()] = MappingProxyType(
                {str(model): _pricing(f"{host}/{model}", entry)
                 for model, entry in (models or {}).items()})
        suffixes = {str(h).lower(): str(s) for h, s in (data.get("free_suffixes") or {}).items()}
        prefixes = {str(p): str(h).lower() for p, h in (data.get("model_prefixes") or {}).items()}
        return cls(MappingProxyType(hosts), MappingProxyType(suffixes),
                   MappingProxyType(prefixes))

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        return cls.from_dict(yaml.safe_load(read_text_file(path)) or {})

    def lookup(self, base_url: str, model: str) -> Pricing | None:
        """The default price of `model` served from `base_url`, or None when unknown."""
        key = (base_url, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        host = (urlsplit(base_url).hostname or "").lower()
        price = self._on_host(host, model)
        if price is None:
            for prefix, priced_by in self.model_prefixes.items():
                if model.startswith(prefix):
                    price = self._on_host(priced_by, model[len(prefix):])
                    break
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = price
        return price

    def _on_host(self, host: str, model: str) -> Pricing | None:
        price = self.hosts.get(host, _NO_MODELS).get(model)
        if price is not None:
            return price
        suffix = self.free_suffixes.get(host)
        return FREE if suffix and model.endswith(suffix) else None


def _pricing(where: str, entry: Any) -> Pricing:
    if not isinstance(entry, Mapping):
        raise ValueError(f"prices: {where}: expected {{input, output}} or {{free: true}}")
    unknown = set(entry) - {"input", "output", "free"}
    if unknown:
        raise ValueError(f"prices: {where}: unknown keys {sorted(unknown)}")
    free = bool(entry.get("free", False))
    if not free and ("input" not in entry or "output" not in entry):
        raise ValueError(f"prices: {where}: needs both input and output (USD per 1M tokens)")
    pin, pout = float(entry.get("input", 0.0)), float(entry.get("output", 0.0))
    if pin < 0 or pout < 0:
        raise ValueError(f"prices: {where}: prices must be >= 0")
    return Pricing(pin, pout, free=free)


@functools.cache
def default_prices() -> PriceTable:
    """The shipped table (`provider_fallback/data/prices.yaml`), read once."""
    text = resources.files("provider_fallback").joinpath("data", "prices.yaml").read_text("utf-8")
    return PriceTable.from_dict(yaml.safe_load(text) or {})


def price_of(target: Target, table: PriceTable | None = None) -> Pricing | None:
    """The target's price: its configured `price`/`free` if any, else the default table.

    None means unknown: `cost_usd` counts it as 0 USD, but it is *not* free, so the kill
    switch blocks it (an unpriced model might be paid; spending there is not allowed).
    """
    if target.price is not None:
        return target.price
    return (table or default_prices()).lookup(target.provider.base_url, target.model)


def is_free(target: Target, table: PriceTable | None = None) -> bool:
    """True only for a target known to be free (unknown price is not free)."""
    price = price_of(target, table)
    return price is not None and price.free


def cost_usd(pricing: Pricing | None, prompt_tokens: int, completion_tokens: int) -> float:
    """USD for one answer; 0 for free and unknown prices."""
    if pricing is None or pricing.free:
        return 0.0
    return (max(0, prompt_tokens) * pricing.input_per_m
            + max(0, completion_tokens) * pricing.output_per_m) / 1_000_000
