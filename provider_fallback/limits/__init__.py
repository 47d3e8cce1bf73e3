"""Rate limits: rpm/rpd/tpm/tpd per target, learned from headers, checked before sending.

`RateLedger.admits(target, tokens, now)` says whether a request fits (or how long until it
would); `reserve` / `settle` count it; `learn` reads response headers; `on_429` blocks.
`estimate_tokens(body)` sizes a request; `default_limits(target)` gives the provider
catalog's limits (`data/catalog/`) for the target's plan.
"""

from ._defaults import WINDOWS, cached_tokens_count, default_limits, header_windows
from ._estimate import (
    DEFAULT_MAX_TOKENS,
    estimate_prompt_tokens,
    estimate_text_tokens,
    estimate_tokens,
)
from ._headers import Advertised, RateLimitHeaders, from_facts, read_ratelimit_headers, window_for
from ._ledger import DEFAULT_BLOCK_S, LimitFacts, RateLedger, Reservation

Ledger = RateLedger

__all__ = [
    "DEFAULT_BLOCK_S",
    "DEFAULT_MAX_TOKENS",
    "WINDOWS",
    "Advertised",
    "Ledger",
    "LimitFacts",
    "RateLedger",
    "RateLimitHeaders",
    "Reservation",
    "default_limits",
    "cached_tokens_count",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "estimate_tokens",
    "from_facts",
    "header_windows",
    "read_ratelimit_headers",
    "window_for",
]
