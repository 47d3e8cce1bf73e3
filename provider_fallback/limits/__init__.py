"""Rate limits: rpm/rpd/tpm/tpd per target, learned from headers, checked before sending.

`RateLedger.admits(target, tokens, now)` says whether a request fits (or how long until it
would); `reserve` / `settle` count it; `learn` reads response headers; `on_429` blocks.
`estimate_tokens(body)` sizes a request; `default_limits(target)` gives shipped limits
from `data/limits.yaml`.
"""

from ._defaults import WINDOWS, LimitTable, default_limits, default_table, header_windows
from ._estimate import (
    DEFAULT_MAX_TOKENS,
    estimate_prompt_tokens,
    estimate_text_tokens,
    estimate_tokens,
)
from ._headers import Advertised, RateLimitHeaders, read_ratelimit_headers, window_for
from ._ledger import DEFAULT_BLOCK_S, LimitFacts, RateLedger, Reservation

Ledger = RateLedger

__all__ = [
    "DEFAULT_BLOCK_S",
    "DEFAULT_MAX_TOKENS",
    "WINDOWS",
    "Advertised",
    "LimitTable",
    "Ledger",
    "LimitFacts",
    "RateLedger",
    "RateLimitHeaders",
    "Reservation",
    "default_limits",
    "default_table",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "estimate_tokens",
    "header_windows",
    "read_ratelimit_headers",
    "window_for",
]
