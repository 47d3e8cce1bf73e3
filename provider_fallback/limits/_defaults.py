"""Shipped default rate limits (`provider_fallback/data/limits.yaml`), by host and model id."""

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

from ..config import RateLimits, Target
from ..config._text import read_text_file

__all__ = ["LimitTable", "WINDOWS", "default_limits", "default_table", "header_windows"]

WINDOWS: tuple[str, ...] = ("rpm", "rpd", "tpm", "tpd")
_UNITS = ("requests", "tokens")
_NO_STR: Mapping[str, str] = MappingProxyType({})
_NO_MODELS: Mapping[str, RateLimits] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    """One provider kind from the table: its host, optional model prefix, header windows, models."""

    kind: str
    match_host: str
    model_prefix: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_STR)
    models: Mapping[str, RateLimits] = field(default_factory=lambda: _NO_MODELS)


@dataclass(frozen=True, slots=True)
class LimitTable:
    """Default limits per provider kind. Look up by `(base_url, model)`."""

    providers: tuple[ProviderLimits, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LimitTable:
        """Build from the `limits.yaml` layout; raises ValueError naming the bad entry."""
        return cls(tuple(_provider(str(kind), entry) for kind, entry in data.items()))

    @classmethod
    def from_file(cls, path: str | Path) -> LimitTable:
        return cls.from_dict(yaml.safe_load(read_text_file(path)) or {})

    def lookup(self, base_url: str, model: str) -> RateLimits | None:
        """Default limits of `model` served from `base_url`, or None when unknown."""
        host = _host(base_url)
        for p in self.providers:
            if p.match_host == host and model in p.models:
                return p.models[model]
        for p in self.providers:
            if p.model_prefix and model.startswith(p.model_prefix):
                found = p.models.get(model[len(p.model_prefix):])
                if found is not None:
                    return found
        return None

    def header_windows(self, base_url: str) -> Mapping[str, str]:
        """Which window `-requests` / `-tokens` headers describe on this host (may be empty)."""
        host = _host(base_url)
        for p in self.providers:
            if p.match_host == host:
                return p.headers
        return _NO_STR


def _host(base_url: str) -> str:
    return (urlsplit(base_url).hostname or "").lower()


def _provider(kind: str, entry: Any) -> ProviderLimits:
    if not isinstance(entry, Mapping) or not entry.get("match_host"):
        raise ValueError(f"limits: {kind}: expected a mapping with match_host")
    unknown = set(entry) - {"match_host", "model_prefix", "headers", "models"}
    if unknown:
        raise ValueError(f"limits: {kind}: unknown keys {sorted(unknown)}")
    headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
    for unit, window in headers.items():
        if unit not in _UNITS or window not in WINDOWS:
            raise ValueError(f"limits: {kind}.headers: {unit}: {window} is not a known window")
    models = {str(m): _limits(f"{kind}/{m}", v) for m, v in (entry.get("models") or {}).items()}
    prefix = entry.get("model_prefix")
    return ProviderLimits(kind, str(entry["match_host"]).lower(),
                          str(prefix) if prefix else None,
                          MappingProxyType(headers), MappingProxyType(models))


def _limits(where: str, entry: Any) -> RateLimits:
    if not isinstance(entry, Mapping):
        raise ValueError(f"limits: {where}: expected {{rpm, rpd, tpm, tpd}}")
    unknown = set(entry) - set(WINDOWS)
    if unknown:
        raise ValueError(f"limits: {where}: unknown keys {sorted(unknown)}")
    values: dict[str, int] = {}
    for name, value in entry.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"limits: {where}.{name}: expected a whole number >= 1")
        values[name] = value
    return RateLimits(**values)


@functools.cache
def default_table() -> LimitTable:
    """The shipped table, read once."""
    text = resources.files("provider_fallback").joinpath("data", "limits.yaml").read_text("utf-8")
    return LimitTable.from_dict(yaml.safe_load(text) or {})


def default_limits(target: Target, table: LimitTable | None = None) -> RateLimits | None:
    """The shipped default limits for this target's host and model, or None."""
    return (table or default_table()).lookup(target.provider.base_url, target.model)


def header_windows(target: Target, table: LimitTable | None = None) -> Mapping[str, str]:
    """The provider's header convention, e.g. Groq: {"requests": "rpd", "tokens": "tpm"}."""
    return (table or default_table()).header_windows(target.provider.base_url)
