"""What a response says about rate limits, and which window (rpm/rpd/tpm/tpd) it describes."""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Mapping
from typing import NamedTuple

from multidict import CIMultiDict, CIMultiDictProxy

from ..config import RateLimits
from ..errors._headers import (
    duration_header,
    lower_headers,
    ratelimit_reset_seconds,
    retry_after_seconds,
    rfc3339_time,
)
from ..errors._types import RateFact

__all__ = ["Advertised", "RateLimitHeaders", "from_facts", "read_ratelimit_headers", "window_for"]

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_WINDOWS: dict[str, tuple[str, str]] = {"requests": ("rpm", "rpd"), "tokens": ("tpm", "tpd")}
# Any of these present means a response has something to say about rate limits.
_RATE_HEADERS = ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens",
                 "x-ratelimit-limit-requests", "x-ratelimit-limit-tokens",
                 "x-ratelimit-remaining", "x-ratelimit-limit", "retry-after", "retry-after-ms",
                 "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-remaining",
                 "anthropic-ratelimit-input-tokens-remaining")
# Anthropic's windows (all per minute): `tokens` is the tightest of its input and output
# token limits; with only `input-tokens` sent, that is the one a request spends first.
_ANTHROPIC = {"requests": ("requests",), "tokens": ("tokens", "input-tokens")}


class Advertised(NamedTuple):
    """One window as a response describes it; any field may be unknown (None). (Made for
    every answer: a NamedTuple, made in a third of the time of a frozen dataclass.)"""

    limit: int | None
    remaining: int | None
    reset_s: float | None
    window: str | None = None   # said outright (an error body's "tokens per minute")


class RateLimitHeaders(NamedTuple):
    """The rate-limit headers of one response."""

    requests: Advertised | None = None
    tokens: Advertised | None = None
    retry_after: float | None = None

    @property
    def empty(self) -> bool:
        """True when the response said nothing about rate limits."""
        return self.requests is None and self.tokens is None and self.retry_after is None


_NONE = RateLimitHeaders()   # a response that says nothing about rate limits


def from_facts(facts: tuple[RateFact, ...], retry_after: float | None = None) -> RateLimitHeaders:
    """What an error body said (`Failure.rate_facts`), in the shape headers are learned in:
    the first fact per unit, with its window when the body named it."""
    units: dict[str, Advertised] = {}
    for f in facts:
        if f.unit in _WINDOWS and f.unit not in units:
            units[f.unit] = Advertised(f.limit, f.remaining, f.reset_s, f.window)
    if not units and retry_after is None:
        return _NONE
    return RateLimitHeaders(units.get("requests"), units.get("tokens"), retry_after)


def read_ratelimit_headers(headers: Mapping[str, str] | None,
                           wall: float | None = None) -> RateLimitHeaders:
    """Parse Groq/OpenAI `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, OpenRouter
    `x-ratelimit-{limit,remaining,reset}` (reset in Unix ms; counts requests), Anthropic
    `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, `retry-after`
    and `retry-after-ms`. `wall` is the current Unix time, for absolute resets and dates.
    """
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        # case-insensitive already (the upstream pool's and aiohttp's headers): no copy
        requests = _advertised(headers, "requests", wall)
        if requests is not None and "retry-after" not in headers \
                and "retry-after-ms" not in headers:
            tokens = _advertised(headers, "tokens", wall)
            if tokens is not None:
                # OpenAI's and Groq's usual answer, both units suffixed: read directly
                return RateLimitHeaders(requests, tokens, None)
        elif requests is None and not any(name in headers for name in _RATE_HEADERS):
            return _NONE   # most upstreams send none of these: a few lookups
    h = lower_headers(headers)
    if not h:
        return _NONE
    requests = _advertised(h, "requests", wall)
    if requests is None:  # OpenRouter's unsuffixed headers count requests
        requests = _advertised(h, None, wall)
    if requests is None:
        requests = _anthropic(h, "requests", wall)
    tokens = _advertised(h, "tokens", wall) or _anthropic(h, "tokens", wall)
    return RateLimitHeaders(requests, tokens, retry_after_seconds(h, now=wall))


def _anthropic(h: Mapping[str, str], unit: str, wall: float | None) -> Advertised | None:
    """`anthropic-ratelimit-{unit}-{limit,remaining,reset}`, the reset an RFC 3339 time."""
    for name in _ANTHROPIC[unit]:
        prefix = f"anthropic-ratelimit-{name}-"
        limit, remaining = _count(h.get(prefix + "limit")), _count(h.get(prefix + "remaining"))
        if limit is None and remaining is None:
            continue
        at = rfc3339_time(h.get(prefix + "reset"))
        reset = None if at is None else max(0.0, at - (time.time() if wall is None else wall))
        if limit is not None and remaining is not None:
            remaining = min(remaining, limit)
        return Advertised(limit, remaining, reset)
    return None


_NAMES = {unit: (f"x-ratelimit-limit{sfx}", f"x-ratelimit-remaining{sfx}", f"x-ratelimit-reset{sfx}")
          for unit, sfx in (("requests", "-requests"), ("tokens", "-tokens"), (None, ""))}


# a suffixed window's reset (`7.66s`, `2m59.56s`): the same text recurs across answers
_reset = functools.lru_cache(maxsize=512)(duration_header)


def _advertised(h: Mapping[str, str], unit: str | None, wall: float | None) -> Advertised | None:
    limit_name, remaining_name, reset_name = _NAMES[unit]
    limit, remaining = h.get(limit_name), h.get(remaining_name)
    # the usual "14400": read here, not through a call per count
    limit = int(limit) if limit is not None and limit.isdigit() and limit.isascii() \
        else _count(limit)
    remaining = int(remaining) if remaining is not None and remaining.isdigit() \
        and remaining.isascii() else _count(remaining)
    if limit is None and remaining is None:
        return None
    if limit is not None and remaining is not None and remaining > limit:
        remaining = limit
    value = h.get(reset_name)
    if value is None:
        reset = None
    elif unit:   # only this window's own header, a duration (the shared function would
        reset = _reset(value)   # borrow another window's)
    else:        # OpenRouter's: Unix ms, or a duration
        reset = ratelimit_reset_seconds({reset_name: value}, None, now=wall)
    return Advertised(limit, remaining, reset)


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    if value.isdigit() and value.isascii():   # the usual "14400"
        return int(value)
    value = value.strip()
    if not _NUMBER.fullmatch(value):
        return None
    return math.floor(float(value))  # floor: never read more capacity than advertised


def window_for(unit: str, seen: Advertised, known: RateLimits | None = None,
               convention: Mapping[str, str] | None = None) -> str:
    """The window ("rpm", "rpd", "tpm" or "tpd") that `seen` ("requests" or "tokens") describes.

    In order: the window `seen` names itself; the advertised limit equals exactly one known
    limit of that unit; the host's
    convention (Groq: requests -> rpd, tokens -> tpm); a reset more than 60 s away means a
    daily window; the known limit nearest to the advertised one; else per minute (OpenAI).
    """
    if seen.window is not None:
        return seen.window
    minute, day = _WINDOWS[unit]
    per_minute = getattr(known, minute, None) if known else None
    per_day = getattr(known, day, None) if known else None
    if seen.limit is not None and (seen.limit == per_minute) != (seen.limit == per_day):
        return minute if seen.limit == per_minute else day
    if convention and unit in convention:
        return convention[unit]
    if seen.reset_s is not None and seen.reset_s > 60.0:
        return day
    if seen.limit and per_minute and per_day:
        near_minute = abs(math.log(seen.limit / per_minute))
        return minute if near_minute <= abs(math.log(seen.limit / per_day)) else day
    return minute
