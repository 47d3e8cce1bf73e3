"""Reading catalog files: one YAML mapping per provider, checked key by key."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..config._model import CONTINUATIONS, Pricing, RateLimits
from ._entries import FREE, NO_FACTS, CatalogEntry, ModelFacts, PlanSpec

__all__ = ["entry_from_dict"]

_WINDOWS = ("rpm", "rpd", "tpm", "tpd")
_ENTRY_KEYS = frozenset({"name", "title", "api", "base_url", "hosts", "old_hosts", "ports",
                         "names", "key_env", "key_hint", "plans", "no_plan", "header_windows",
                         "cached_tokens_count", "proxy", "model_prefix", "continuation",
                         "stream_usage", "models"})
_MODEL_KEYS = frozenset({"context", "price", "free", "limits", "continuation", "stream_usage",
                         "fronts"})
_PLAN_KEYS = frozenset({"free", "about", "fronted_plan"})
APIS = ("openai", "anthropic")


class CatalogError(ValueError):
    """A catalog file is malformed; the message names the file and the key."""


def entry_from_dict(data: Any, source: str) -> CatalogEntry:
    """Build one entry from a file's mapping; raises CatalogError naming `source` and key."""
    where = source
    if not isinstance(data, Mapping):
        raise CatalogError(f"{where}: expected a mapping with name, base_url, plans, models")
    _no_unknown(data, _ENTRY_KEYS, where)
    for key in ("name", "base_url", "plans"):
        if not data.get(key):
            raise CatalogError(f"{where}: missing required key '{key}'")
    name = str(data["name"])
    api = str(data.get("api", "openai"))
    if api not in APIS:
        raise CatalogError(f"{where}: api: {api!r} is not one of {', '.join(APIS)}")
    plans = _plans(data["plans"], f"{where}: plans")
    no_plan = data.get("no_plan") or {}
    if not isinstance(no_plan, Mapping) or set(no_plan) - {"price", "limits"}:
        raise CatalogError(f"{where}: no_plan: expected {{price: PLAN, limits: PLAN}}")
    first = next(iter(plans))
    price_plan, limits_plan = str(no_plan.get("price", first)), str(no_plan.get("limits", first))
    for key, value in (("price", price_plan), ("limits", limits_plan)):
        if value not in plans:
            raise CatalogError(f"{where}: no_plan.{key}: {value!r} is not one of the plans "
                               f"({', '.join(plans)})")
    headers = {str(k): str(v) for k, v in (data.get("header_windows") or {}).items()}
    for unit, window in headers.items():
        if unit not in ("requests", "tokens") or window not in _WINDOWS:
            raise CatalogError(f"{where}: header_windows.{unit}: {window!r} is not a window "
                               "(requests/tokens -> rpm, rpd, tpm, tpd)")
    defaults = _facts({k: data[k] for k in ("continuation", "stream_usage") if k in data},
                      where, plans)
    models: dict[str, ModelFacts] = {}
    patterns: list[tuple[str, ModelFacts]] = []
    for model, entry in (data.get("models") or {}).items():
        facts = _facts(entry, f"{where}: models.{model}", plans)
        if any(c in str(model) for c in "*?["):
            patterns.append((str(model), facts))
        else:
            models[str(model)] = facts
    ports = tuple(int(p) for p in data.get("ports") or ())
    return CatalogEntry(
        name=name, title=str(data.get("title") or name), api=api,
        base_url=str(data["base_url"]).rstrip("/"), plans=MappingProxyType(plans),
        no_plan_price=price_plan, no_plan_limits=limits_plan,
        hosts=_lower(data.get("hosts")), old_hosts=_lower(data.get("old_hosts")), ports=ports,
        names=tuple(str(n) for n in data.get("names") or ()),
        key_env=str(data["key_env"]) if data.get("key_env") else None,
        key_hint=str(data.get("key_hint") or ""), header_windows=MappingProxyType(headers),
        cached_tokens_count=_bool(data.get("cached_tokens_count", True),
                                  f"{where}: cached_tokens_count"),
        proxy=_bool(data.get("proxy", False), f"{where}: proxy"),
        model_prefix=str(data["model_prefix"]) if data.get("model_prefix") else None,
        defaults=defaults, models=MappingProxyType(models), patterns=tuple(patterns),
        source=source)


def _plans(data: Any, where: str) -> dict[str, PlanSpec]:
    if not isinstance(data, Mapping) or not data:
        raise CatalogError(f"{where}: expected at least one plan, e.g. {{free: {{free: true}}}}")
    plans: dict[str, PlanSpec] = {}
    for name, spec in data.items():
        spec = spec or {}
        if not isinstance(spec, Mapping):
            raise CatalogError(f"{where}.{name}: expected a mapping")
        _no_unknown(spec, _PLAN_KEYS, f"{where}.{name}")
        plans[str(name)] = PlanSpec(str(name), _bool(spec.get("free", False), f"{where}.{name}.free"),
                                    str(spec.get("about") or ""),
                                    str(spec["fronted_plan"]) if spec.get("fronted_plan") else None)
    return plans


def _facts(data: Any, where: str, plans: Mapping[str, PlanSpec]) -> ModelFacts:
    if data is None:
        return NO_FACTS
    if not isinstance(data, Mapping):
        raise CatalogError(f"{where}: expected a mapping of model facts")
    _no_unknown(data, _MODEL_KEYS, where)
    context = data.get("context")
    if context is not None and (isinstance(context, bool) or not isinstance(context, int)
                                or context < 1):
        raise CatalogError(f"{where}.context: expected a whole number of tokens >= 1")
    price: Pricing | None = None
    if data.get("free") is True:
        price = FREE
    elif "free" in data and data["free"] is not False:
        raise CatalogError(f"{where}.free: expected true or false")
    if "price" in data:
        if price is not None:
            raise CatalogError(f"{where}: both free: true and a price")
        price = _price(data["price"], f"{where}.price")
    limits: dict[str, RateLimits] = {}
    for plan, values in (data.get("limits") or {}).items():
        if plan not in plans:
            raise CatalogError(f"{where}.limits.{plan}: not one of the plans "
                               f"({', '.join(plans)})")
        limits[str(plan)] = _limits(values, f"{where}.limits.{plan}")
    continuation = data.get("continuation")
    if continuation is not None and continuation not in CONTINUATIONS:
        raise CatalogError(f"{where}.continuation: {continuation!r} is not one of "
                           f"{', '.join(CONTINUATIONS)}")
    stream_usage = data.get("stream_usage")
    if stream_usage is not None:
        stream_usage = _bool(stream_usage, f"{where}.stream_usage")
    fronts = data.get("fronts")
    if fronts is not None and (not isinstance(fronts, str) or "/" not in fronts):
        raise CatalogError(f"{where}.fronts: expected 'prefix/model', e.g. "
                           "groq/llama-3.3-70b-versatile")
    return ModelFacts(context, price, MappingProxyType(limits), continuation, stream_usage,
                      fronts)


def _price(data: Any, where: str) -> Pricing:
    if not isinstance(data, Mapping) or set(data) != {"input", "output"}:
        raise CatalogError(f"{where}: expected {{input, output}} in USD per 1M tokens")
    values = []
    for key in ("input", "output"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise CatalogError(f"{where}.{key}: expected a number >= 0")
        values.append(float(value))
    return Pricing(values[0], values[1])


def _limits(data: Any, where: str) -> RateLimits:
    if not isinstance(data, Mapping):
        raise CatalogError(f"{where}: expected {{rpm, rpd, tpm, tpd}}")
    _no_unknown(data, frozenset(_WINDOWS), where)
    values: dict[str, int] = {}
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CatalogError(f"{where}.{name}: expected a whole number >= 1")
        values[str(name)] = value
    return RateLimits(**values)


def _no_unknown(data: Mapping[Any, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in set(data) - known)
    if unknown:
        raise CatalogError(f"{where}: unknown keys {unknown}; known: {', '.join(sorted(known))}")


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise CatalogError(f"{where}: expected true or false")
    return value


def _lower(values: Any) -> tuple[str, ...]:
    return tuple(str(v).lower() for v in values or ())
