"""Reading waits out of response headers: Retry-After, retry-after-ms, x-ratelimit-reset-*."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "MAX_WAIT_S",
    "duration_header",
    "lower_headers",
    "parse_duration",
    "ratelimit_reset_seconds",
    "retry_after_seconds",
    "rfc3339_time",
]

# A wait longer than a day is a broken header, not advice; clamp it.
MAX_WAIT_S = 86_400.0

_UNIT_S = {"d": 86_400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3,
           "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|d|h|m|s)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|us|µs|ns|d|h|m|s))+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def lower_headers(headers: Mapping[str, str] | None) -> Mapping[str, str]:
    """Headers to look up by lower-case name: aiohttp's case-insensitive multidicts as they
    are (no copy on the request path), anything else as a plain dict with lower-cased names."""
    if not headers:
        return {}
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return headers   # case-insensitive already; .get() gives the first value
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = str(name).lower()
        if key not in out:  # first value wins for repeated headers
            out[key] = str(value)
    return out


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (`2m59.56s`, `7.66s`, `120ms`, `1h2m3s`) or a bare number.

    A bare number is seconds (`"5"` -> 5.0). Anything else (negative, `inf`, words) -> None.
    """
    s = text.strip()
    if s[-1:] == "s" and s[-2:-1].isdigit():
        # the usual "7.66s" and "2m59.56s" without the regexes
        minutes, sep, seconds = s[:-1].rpartition("m")
        if (not sep or (minutes.isdigit() and minutes.isascii())) and _plain_number(seconds):
            return (int(minutes) * 60.0 if sep else 0.0) + float(seconds)
    s = s.lower()
    if not s:
        return None
    if _NUMBER.fullmatch(s):
        return float(s)
    if not _DURATION.fullmatch(s):
        return None
    return sum(float(num) * _UNIT_S[unit] for num, unit in _PART.findall(s))


def _plain_number(text: str) -> bool:
    """Digits with at most one decimal point between digits (what _NUMBER matches)."""
    whole, point, frac = text.partition(".")
    return whole.isdigit() and whole.isascii() and (not point or (frac.isdigit()
                                                                   and frac.isascii()))


def _clamp(seconds: float) -> float | None:
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_WAIT_S)


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait as advertised by `retry-after-ms` or `retry-after` (seconds or HTTP date).

    `now` is the current Unix time (defaults to `time.time()`), used for HTTP dates.
    Returns None when neither header is present or parseable; never negative.
    """
    h = lower_headers(headers)
    ms = h.get("retry-after-ms")
    if ms is not None and _NUMBER.fullmatch(ms.strip()):
        return _clamp(float(ms) / 1000.0)
    value = h.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if _NUMBER.fullmatch(value):
        return _clamp(float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None on garbage
        return None
    current = time.time() if now is None else now
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _clamp(when.timestamp() - current)


def ratelimit_reset_seconds(headers: Mapping[str, str] | None, kind: str | None = None,
                            now: float | None = None) -> float | None:
    """Seconds until the rate-limit window named by `kind` resets.

    `kind` is "requests", "tokens" or None (unknown: the exhausted window if the
    `x-ratelimit-remaining-*` headers say which, else the longest reset advertised).
    Reads `x-ratelimit-reset-requests` / `-tokens` (Groq/OpenAI durations),
    `x-ratelimit-reset` (OpenRouter: Unix time in ms; small values are durations) and
    Anthropic's `anthropic-ratelimit-*-reset` (RFC 3339 times).
    """
    h = lower_headers(headers)
    if kind is None:
        exhausted = [k for k in ("requests", "tokens")
                     if h.get(f"x-ratelimit-remaining-{k}", "").strip() == "0"]
        kind = exhausted[0] if len(exhausted) == 1 else None
    kinds = (kind,) if kind else ("requests", "tokens")
    found = [d for k in kinds if (d := duration_header(h.get(f"x-ratelimit-reset-{k}"))) is not None]
    if found:
        return _clamp(max(found))
    reset = h.get("x-ratelimit-reset")
    if reset is None:
        return _anthropic_reset(h, kind, now)
    reset = reset.strip()
    if _NUMBER.fullmatch(reset):
        value = float(reset)
        current = time.time() if now is None else now
        if value > 1e12:   # Unix time in milliseconds
            return _clamp(value / 1000.0 - current)
        if value > 1e9:    # Unix time in seconds
            return _clamp(value - current)
        return _clamp(value)
    return duration_header(reset)


_ANTHROPIC_UNITS = {"requests": ("requests",), "tokens": ("tokens", "input-tokens", "output-tokens")}


def _anthropic_reset(h: Mapping[str, str], kind: str | None, now: float | None) -> float | None:
    """Anthropic's `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset`
    (RFC 3339 times); without a kind, the exhausted window's, else the latest."""
    units = _ANTHROPIC_UNITS.get(kind or "") or (
        *_ANTHROPIC_UNITS["requests"], *_ANTHROPIC_UNITS["tokens"])
    if kind is None:
        spent = [u for u in units if h.get(f"anthropic-ratelimit-{u}-remaining", "").strip() == "0"]
        units = tuple(spent) or units
    current = time.time() if now is None else now
    found = [t - current for u in units
             if (t := rfc3339_time(h.get(f"anthropic-ratelimit-{u}-reset"))) is not None]
    return _clamp(max(found)) if found else None


def rfc3339_time(value: str | None) -> float | None:
    """Unix time of an RFC 3339 timestamp (`2026-12-01T10:00:30Z`), None if it is not one."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def duration_header(value: str | None) -> float | None:
    """Seconds in a duration header value (`parse_duration`), clamped; None if unreadable."""
    if value is None:
        return None
    seconds = parse_duration(value)
    return None if seconds is None else _clamp(seconds)
