"""Rate-limit facts from error *bodies*, for upstreams that say there what others say in
headers (or say it in both).

- OpenRouter: `error.metadata.headers` holds `X-RateLimit-Limit`, `-Remaining` and
  `-Reset` (Unix time in ms); the message names the cap (`free-models-per-min`,
  `free-models-per-day`).
- Groq and OpenAI: "... on tokens per minute (TPM): Limit 12000, Used 11795, Requested
  1037. Please try again in 4.16s" (also `1m26.4s`, `140ms`).
- Gemini (OpenAI-compatible endpoint): `google.rpc.QuotaFailure` names the quota
  (`...PerMinute...`, `...PerDay...`, its value) and `google.rpc.RetryInfo` the delay.
- A daily cap said only in words ("free-models-per-day", "daily limit") without a reset:
  exhausted until the provider's day ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._headers import lower_headers, parse_duration, ratelimit_reset_seconds
from ._types import RateFact

__all__ = ["daily_cap_fact", "google_quota", "openrouter_facts", "phrase_facts"]

_PHRASE = re.compile(
    r"on (requests|tokens) per (minute|min|day)\b[^:]{0,20}:\s*limit\s+(\d+),\s*used\s+(\d+)")
_WINDOW = {("requests", "minute"): "rpm", ("requests", "min"): "rpm", ("requests", "day"): "rpd",
           ("tokens", "minute"): "tpm", ("tokens", "min"): "tpm", ("tokens", "day"): "tpd"}
_OPENROUTER_CAPS = (("per-day", "rpd"), ("per-min", "rpm"))
_GOOGLE_PERIOD = (("perday", "d"), ("perminute", "m"))


def openrouter_facts(meta_headers: Mapping[str, Any], message: str,
                     now: float | None) -> tuple[tuple[RateFact, ...], float | None]:
    """Facts and the wait from OpenRouter's `error.metadata.headers` (names any case)."""
    h = lower_headers({str(k): str(v) for k, v in meta_headers.items()})
    limit, remaining = _int(h.get("x-ratelimit-limit")), _int(h.get("x-ratelimit-remaining"))
    reset = ratelimit_reset_seconds(h, "requests", now) if "x-ratelimit-reset" in h else None
    if limit is None and remaining is None and reset is None:
        return (), None
    window = next((w for word, w in _OPENROUTER_CAPS if word in message), None)
    if window is None and reset is not None:
        window = "rpd" if reset > 60.0 else "rpm"
    return (RateFact("requests", window, limit, remaining, reset),), reset


def phrase_facts(message: str, wait: float | None) -> tuple[RateFact, ...]:
    """Groq's and OpenAI's "on <unit> per <period> (X): Limit N, Used M" (lower-cased)."""
    m = _PHRASE.search(message)
    if m is None:
        return ()
    unit, period = m.group(1), m.group(2)
    limit, used = int(m.group(3)), int(m.group(4))
    return (RateFact(unit, _WINDOW[(unit, period)], limit, max(0, limit - used), wait),)


def daily_cap_fact(code: str, message: str) -> tuple[RateFact, ...]:
    """A daily cap said only in words: exhausted, until the day's end (reset unknown)."""
    if code == "rate_limit_rpd":
        return (RateFact("requests", "rpd", None, 0, None),)
    if code == "rate_limit_tpd":
        return (RateFact("tokens", "tpd", None, 0, None),)
    return ()


def google_quota(err: Mapping[str, Any]) -> tuple[str | None, tuple[RateFact, ...], float | None]:
    """From Gemini's `error.details`: the rate-limit code its QuotaFailure names (None when
    there is none), the fact, and RetryInfo's delay."""
    details = err.get("details")
    if not isinstance(details, list):
        return None, (), None
    code: str | None = None
    facts: list[RateFact] = []
    delay: float | None = None
    for item in details:
        if not isinstance(item, Mapping):
            continue
        kind = str(item.get("@type", ""))
        if kind.endswith("google.rpc.RetryInfo"):
            raw = item.get("retryDelay")
            delay = parse_duration(raw) if isinstance(raw, str) else None
        elif kind.endswith("google.rpc.QuotaFailure"):
            for violation in item.get("violations") or ():
                if not isinstance(violation, Mapping) or facts:
                    continue
                quota = str(violation.get("quotaId", "")).lower()
                period = next((p for word, p in _GOOGLE_PERIOD if word in quota), None)
                if period is None:
                    continue
                tokens = "token" in quota or "token" in str(violation.get("quotaMetric", ""))
                unit = "tokens" if tokens else "requests"
                window = ("t" if tokens else "r") + "p" + period
                code = f"rate_limit_{window}"
                facts.append(RateFact(unit, window, _int(violation.get("quotaValue")), 0, None))
    if facts and delay is not None:
        facts = [RateFact(f.unit, f.window, f.limit, f.remaining, delay) for f in facts]
    return code, tuple(facts), delay


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
