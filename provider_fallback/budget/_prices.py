"""What a target costs: configured prices first, then the provider catalog (`data/catalog/`)."""

from __future__ import annotations

from ..catalog import FREE, Catalog, default_catalog
from ..config import Pricing, Target

__all__ = ["FREE", "cost_usd", "is_free", "price_of", "price_source"]


def price_of(target: Target, catalog: Catalog | None = None) -> Pricing | None:
    """The target's price: its configured `price`/`free` if any, else the catalog's for its
    provider's plan (a free plan: free; a `:free` model on OpenRouter: free; ...).

    None means unknown: `cost_usd` counts it as 0 USD, but it is *not* free, so the kill
    switch blocks it (an unpriced model might be paid; spending there is not allowed).
    """
    if target.price is not None:
        return target.price
    return (catalog or default_catalog()).resolve(target.provider, target.model).price


def price_source(target: Target, catalog: Catalog | None = None) -> str | None:
    """Where `price_of` found the price ("config", "catalog groq, plan free", ...)."""
    if target.price is not None:
        return "config"
    return (catalog or default_catalog()).resolve(target.provider, target.model).price_source


def is_free(target: Target, catalog: Catalog | None = None) -> bool:
    """True only for a target known to be free (unknown price is not free)."""
    price = price_of(target, catalog)
    return price is not None and price.free


def cost_usd(pricing: Pricing | None, prompt_tokens: int, completion_tokens: int) -> float:
    """USD for one answer; 0 for free and unknown prices."""
    if pricing is None or pricing.free:
        return 0.0
    return (max(0, prompt_tokens) * pricing.input_per_m
            + max(0, completion_tokens) * pricing.output_per_m) / 1_000_000
