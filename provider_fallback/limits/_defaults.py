"""Shipped default rate limits: the provider catalog's (`data/catalog/`), by provider plan."""

from __future__ import annotations

from collections.abc import Mapping

from ..catalog import Catalog, default_catalog
from ..config import RateLimits, Target

__all__ = ["WINDOWS", "cached_tokens_count", "default_limits", "header_windows"]

WINDOWS: tuple[str, ...] = ("rpm", "rpd", "tpm", "tpd")


def default_limits(target: Target, catalog: Catalog | None = None) -> RateLimits | None:
    """The catalog's limits for this target's provider, plan and model, or None."""
    return (catalog or default_catalog()).resolve(target.provider, target.model).limits


def header_windows(target: Target, catalog: Catalog | None = None) -> Mapping[str, str]:
    """The provider's header convention, e.g. Groq: {"requests": "rpd", "tokens": "tpm"}."""
    return (catalog or default_catalog()).resolve(target.provider, target.model).header_windows


def cached_tokens_count(target: Target, catalog: Catalog | None = None) -> bool:
    """False where the provider says cached prompt tokens do not count against its token
    limits (Groq); True (counted) when nothing is known."""
    return (catalog or default_catalog()).resolve(target.provider,
                                                  target.model).cached_tokens_count
