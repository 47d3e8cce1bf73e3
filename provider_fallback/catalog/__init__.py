"""The provider catalog: what the gateway knows about a provider without being told.

`data/catalog/*.yaml` (one file per provider) holds base URLs, plans, per-model limits,
prices, context windows and capabilities. `default_catalog().match(provider)` says which
entry applies to a configured provider; `.resolve(provider, model)` what a target
inherits from it. The user's config always wins; limits/ and budget/ read the rest here.
"""

from ._catalog import (
    CATALOG_DIR_ENV,
    NONE,
    Catalog,
    CatalogError,
    Match,
    Resolved,
    default_catalog,
)
from ._entries import FREE, CatalogEntry, ModelFacts, PlanSpec

__all__ = [
    "CATALOG_DIR_ENV",
    "FREE",
    "NONE",
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "Match",
    "ModelFacts",
    "PlanSpec",
    "Resolved",
    "default_catalog",
]
