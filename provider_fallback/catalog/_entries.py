"""One provider's catalog entry as frozen values, and how its model facts merge."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..config._model import Pricing, RateLimits

__all__ = ["FREE", "NO_FACTS", "CatalogEntry", "ModelFacts", "PlanSpec"]

FREE = Pricing(0.0, 0.0, free=True)
_NO_LIMITS: Mapping[str, RateLimits] = MappingProxyType({})
_NO_STR: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """One account type of a provider. `free`: every model costs nothing on it.
    `fronted_plan`: for a proxy, the plan of what it fronts (LiteLLM `free` -> `free`)."""

    name: str
    free: bool = False
    about: str = ""
    fronted_plan: str | None = None


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What is known about one model on one provider; None / empty = unknown."""

    context: int | None = None
    price: Pricing | None = None               # FREE for `free: true`
    limits: Mapping[str, RateLimits] = field(default_factory=lambda: _NO_LIMITS)  # by plan
    continuation: str | None = None
    stream_usage: bool | None = None
    fronts: str | None = None                  # proxies: the "prefix/model" it serves

    def merged(self, other: ModelFacts) -> ModelFacts:
        """These facts, with what is unknown here taken from `other`."""
        limits = self.limits
        if other.limits:
            limits = MappingProxyType({**other.limits, **self.limits})
        return ModelFacts(
            self.context if self.context is not None else other.context,
            self.price if self.price is not None else other.price,
            limits,
            self.continuation if self.continuation is not None else other.continuation,
            self.stream_usage if self.stream_usage is not None else other.stream_usage,
            self.fronts if self.fronts is not None else other.fronts)


NO_FACTS = ModelFacts()


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One provider: where it lives, its plans, defaults, and per-model facts."""

    name: str
    title: str
    api: str                                   # "openai" | "anthropic"
    base_url: str
    plans: Mapping[str, PlanSpec]
    no_plan_price: str                         # plan whose prices apply when none is named
    no_plan_limits: str                        # plan whose limits apply when none is named
    hosts: tuple[str, ...] = ()
    old_hosts: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    key_env: str | None = None
    key_hint: str = ""
    header_windows: Mapping[str, str] = field(default_factory=lambda: _NO_STR)
    cached_tokens_count: bool = True
    proxy: bool = False
    model_prefix: str | None = None
    defaults: ModelFacts = NO_FACTS            # the file's continuation / stream_usage
    models: Mapping[str, ModelFacts] = field(default_factory=lambda: MappingProxyType({}))
    patterns: tuple[tuple[str, ModelFacts], ...] = ()
    source: str = ""                           # the file it came from

    def facts(self, model: str, *, with_defaults: bool = True) -> ModelFacts:
        """`model`'s facts: its own entry, then each matching pattern in file order, then
        the file's defaults, merged field by field."""
        facts = self.models.get(model, NO_FACTS)
        for pattern, more in self.patterns:
            if fnmatch.fnmatchcase(model, pattern):
                facts = facts.merged(more)
        return facts.merged(self.defaults) if with_defaults else facts

    def knows(self, model: str) -> bool:
        """True when the model is listed by name or matches a pattern."""
        return model in self.models or any(fnmatch.fnmatchcase(model, p)
                                           for p, _ in self.patterns)

    def plans_for(self, plan: str | None) -> tuple[str, str]:
        """(plan whose prices apply, plan whose limits apply) for the configured `plan`."""
        if plan is not None and plan in self.plans:
            return plan, plan
        return self.no_plan_price, self.no_plan_limits
