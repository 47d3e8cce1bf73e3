"""The catalog: every entry, which one applies to a provider, and what a target inherits.

`resolve(provider, model)` answers, once per (provider, model), with the facts a target
gets from the catalog and where each came from, so `validate` can print them.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import yaml

from ._entries import FREE, NO_FACTS, CatalogEntry, ModelFacts
from ._load import CatalogError, entry_from_dict

if TYPE_CHECKING:
    from ..config._model import Pricing, ProviderSpec, RateLimits

__all__ = ["CATALOG_DIR_ENV", "NONE", "Catalog", "CatalogError", "Match", "Resolved",
           "default_catalog"]

CATALOG_DIR_ENV = "PROVIDER_FALLBACK_CATALOG_DIR"   # extra/overriding entries, read at start
NONE = "none"           # `catalog: none`: no entry applies to this provider
_CACHE_SIZE = 4096      # pass-through "provider/<any model>" lookups must not grow it forever


@dataclass(frozen=True, slots=True)
class Match:
    """The entry that applies to a provider, and why (for `validate`)."""

    entry: CatalogEntry
    reason: str                 # "host api.groq.com", "port 4000", "name litellm", "catalog: x"
    old_host: bool = False      # matched one of the entry's old hosts: the provider moved


@dataclass(frozen=True, slots=True)
class Resolved:
    """What the catalog says about one target, each with its source text."""

    entry: str | None
    price: Pricing | None
    price_source: str | None
    limits: RateLimits | None
    limits_source: str | None
    context: int | None
    continuation: str | None
    stream_usage: bool | None
    cached_tokens_count: bool
    header_windows: Mapping[str, str]


_NOTHING = Resolved(None, None, None, None, None, None, None, None, True, {})


class Catalog:
    """Provider entries by name, looked up by host, loopback port or provider name."""

    def __init__(self, entries: Iterable[CatalogEntry]) -> None:
        self.entries: dict[str, CatalogEntry] = {}
        for entry in entries:
            self.entries[entry.name] = entry     # a later file with the same name wins
        self._by_prefix = sorted(((e.model_prefix, e) for e in self.entries.values()
                                  if e.model_prefix), key=lambda p: -len(p[0] or ""))
        self._cache: dict[tuple[str, ...], Resolved] = {}

    # -- building --------------------------------------------------------------------------
    @classmethod
    def from_dicts(cls, data: Iterable[Mapping[str, object]]) -> Catalog:
        return cls(entry_from_dict(d, f"<entry {i}>") for i, d in enumerate(data))

    @classmethod
    def from_dirs(cls, *dirs: Path) -> Catalog:
        """Every `*.yaml` in each directory, in name order; later directories override."""
        entries = []
        for d in dirs:
            for path in sorted(Path(d).glob("*.yaml")):
                entries.append(_read(path.read_text(encoding="utf-8"), str(path)))
        return cls(entries)

    # -- which entry ----------------------------------------------------------------------
    def match(self, provider: ProviderSpec) -> Match | None:
        """The entry for `provider`: its `catalog:` name; else by base-URL host (current
        or old); else, on a loopback host, by port; else by the provider's name (only the
        names an entry lists: a sim or relay called "groq" is not Groq)."""
        named = provider.catalog
        if named == NONE:
            return None
        if named is not None:
            entry = self.entries.get(named)
            return Match(entry, f"catalog: {named}") if entry is not None else None
        parts = urlsplit(provider.base_url)
        host = (parts.hostname or "").lower()
        for entry in self.entries.values():
            if host in entry.hosts:
                return Match(entry, f"host {host}")
        for entry in self.entries.values():
            if host in entry.old_hosts:
                return Match(entry, f"old host {host}", old_host=True)
        if _loopback(host):
            port = parts.port
            for entry in self.entries.values():
                if port is not None and port in entry.ports:
                    return Match(entry, f"local port {port}")
        lowered = provider.family.lower()
        for entry in self.entries.values():
            if lowered in entry.names:
                return Match(entry, f"provider name {provider.family}")
        return None

    # -- what a target inherits -----------------------------------------------------------
    def resolve(self, provider: ProviderSpec, model: str) -> Resolved:
        """The catalog's facts for `model` on `provider` (cached)."""
        key = (provider.name, provider.base_url, provider.plan or "", provider.catalog or "",
               model)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            found = self._cache[key] = self._resolve(provider, model)
        return found

    def _resolve(self, provider: ProviderSpec, model: str) -> Resolved:
        match = self.match(provider)
        plan = provider.plan
        if match is None:
            fronted = self._fronted(model)   # "groq/llama-..." on an unknown proxy
            found = _NOTHING if fronted is None else self._view(None, None, NO_FACTS,
                                                                (*fronted, None))
            if plan == "free":    # a provider the catalog does not know, declared free
                found = dataclasses.replace(found, price=FREE, price_source="plan: free")
            return found
        entry = match.entry
        facts = entry.facts(model, with_defaults=False)
        if entry.proxy:
            fronts = provider.model_settings.get(model, {}).get("fronts")   # the user's word
            fronted = self._fronted(str(fronts) if fronts else facts.fronts or model)
            if fronted is not None:
                fplan = entry.plans[plan].fronted_plan if plan in entry.plans else None
                return self._view(entry, plan, facts, (*fronted, fplan))
        return self._view(entry, plan, facts, None)

    def _fronted(self, model: str) -> tuple[CatalogEntry, str] | None:
        """A proxy's model id in `prefix/model` form: the entry with that prefix and the id
        it knows the model by."""
        for prefix, entry in self._by_prefix:
            if prefix and model.startswith(prefix):
                rest = model[len(prefix):]
                if entry.knows(rest):
                    return entry, rest
        return None

    @staticmethod
    def _view(own: CatalogEntry | None, plan: str | None, facts: ModelFacts,
              fronted: tuple[CatalogEntry, str, str | None] | None) -> Resolved:
        """Facts from the provider's own entry (`own`, with `plan`) and, for a proxy, from
        the entry of what it fronts (`fronted`: entry, model id there, its plan)."""
        price: Pricing | None = None
        price_source = limits_source = None
        limits: RateLimits | None = None
        merged = facts
        label = f"catalog {own.name}" if own is not None else "catalog"
        if own is not None:
            price_plan, limits_plan = own.plans_for(plan)
            if own.plans[price_plan].free:
                price, price_source = FREE, f"{label}, {_plan_text(own, plan, price_plan)}"
            elif facts.price is not None:
                price, price_source = facts.price, f"{label}, {_plan_text(own, plan, price_plan)}"
            limits = facts.limits.get(limits_plan)
            if limits is not None:
                limits_source = f"{label}, {_plan_text(own, plan, limits_plan)}"
        counted = own.cached_tokens_count if own is not None else True
        if fronted is not None:
            fentry, rest, fplan = fronted
            ffacts = fentry.facts(rest)
            merged = facts.merged(ffacts)
            flabel = f"{label} -> {fentry.name}/{rest}"
            fprice_plan, flimits_plan = fentry.plans_for(fplan)
            if price is None:
                if fentry.plans[fprice_plan].free:
                    price = FREE
                else:
                    price = ffacts.price
                if price is not None:
                    price_source = f"{flabel}, {_plan_text(fentry, fplan, fprice_plan)}"
            if limits is None:
                limits = ffacts.limits.get(flimits_plan)
                if limits is not None:
                    limits_source = f"{flabel}, {_plan_text(fentry, fplan, flimits_plan)}"
            counted = counted and fentry.cached_tokens_count
        if own is not None:
            merged = merged.merged(own.defaults)
        return Resolved(own.name if own is not None else None, price, price_source, limits,
                        limits_source, merged.context, merged.continuation,
                        merged.stream_usage, counted,
                        own.header_windows if own is not None else {})


def _plan_text(entry: CatalogEntry, plan: str | None, used: str) -> str:
    if plan is not None and plan in entry.plans:
        return f"plan {plan}"
    return f"no plan set: {used}" if len(entry.plans) > 1 else f"plan {used}"


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when installed: 10x faster


def _read(text: str, source: str) -> CatalogEntry:
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: invalid YAML: {exc}") from None
    return entry_from_dict(data, source)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@functools.cache
def default_catalog() -> Catalog:
    """The shipped catalog (`provider_fallback/data/catalog/*.yaml`), plus the directory
    named by $PROVIDER_FALLBACK_CATALOG_DIR if set (its entries win by name). Read once."""
    shipped = resources.files("provider_fallback").joinpath("data", "catalog")
    entries = [_read(f.read_text("utf-8"), f"catalog/{f.name}")
               for f in sorted(shipped.iterdir(), key=lambda f: f.name)
               if f.name.endswith(".yaml")]
    extra = os.environ.get(CATALOG_DIR_ENV)
    catalog = Catalog(entries)
    if extra:
        catalog = Catalog([*entries, *Catalog.from_dirs(Path(extra)).entries.values()])
    return catalog

