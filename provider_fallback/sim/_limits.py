"""Real rate-limit windows for the simulator: RPM, RPD and TPM per model, Groq-style headers."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["ModelLimits", "RateLimitHit", "groq_duration"]

_SPANS = {"RPM": 60.0, "RPD": 86_400.0, "TPM": 60.0}


def groq_duration(seconds: float) -> str:
    """Format a wait the way Groq does in `x-ratelimit-reset-*`: `2m59.56s`, `7.66s`, `120ms`."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    text = f"{secs:.2f}".rstrip("0").rstrip(".")
    if text == "60":  # rounding carried into the next minute
        minutes, text = minutes + 1, "0"
    out = f"{text}s"
    if minutes or hours:
        out = f"{int(minutes)}m{out}"
    if hours:
        out = f"{int(hours)}h{out}"
    return out


@dataclass(frozen=True, slots=True)
class RateLimitHit:
    """Why a request was refused: which window, its numbers, and how long to wait."""

    window: str       # "RPM" | "RPD" | "TPM"
    limit: int
    used: int
    requested: int
    wait: float       # seconds until the request would be admitted
    too_large: bool = False  # one request bigger than the whole TPM window: waiting cannot help

    @property
    def kind(self) -> str:
        """Groq's error `type`: "tokens" or "requests"."""
        return "tokens" if self.window.startswith("T") else "requests"

    @property
    def retry_after(self) -> int:
        """The `retry-after` header value: whole seconds, rounded up, at least 1."""
        return max(1, math.ceil(self.wait))


class _Window:
    """A sliding log: (time, amount) entries younger than `span` count against `limit`."""

    __slots__ = ("events", "limit", "name", "span", "used")

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.span = _SPANS[name]
        self.events: deque[tuple[float, int]] = deque()
        self.used = 0

    def expire(self, now: float) -> None:
        cutoff = now - self.span
        events = self.events
        while events and events[0][0] <= cutoff:
            self.used -= events.popleft()[1]

    def wait_for(self, amount: int, now: float) -> float:
        """Seconds until `amount` more fits (0 if it fits now); call after expire()."""
        excess = self.used + amount - self.limit
        if excess <= 0:
            return 0.0
        for t, n in self.events:
            excess -= n
            if excess <= 0:
                return max(0.0, t + self.span - now)
        return self.span  # pragma: no cover - only when amount > limit, handled by the caller

    def reset(self, now: float) -> float:
        return self.events[0][0] + self.span - now if self.events else 0.0


class ModelLimits:
    """The rpm/rpd/tpm windows of one model. Not thread-safe: used on the sim's loop only."""

    __slots__ = ("_requests", "_tokens")

    def __init__(self, rpm: int | None, rpd: int | None, tpm: int | None) -> None:
        self._requests = [_Window(n, v) for n, v in (("RPM", rpm), ("RPD", rpd)) if v is not None]
        self._tokens = _Window("TPM", tpm) if tpm is not None else None

    def admit(self, tokens: int, now: float) -> RateLimitHit | None:
        """Charge one request of `tokens` tokens, or say which window refuses it (charging nothing)."""
        worst: RateLimitHit | None = None
        for w in self._requests:
            w.expire(now)
            wait = w.wait_for(1, now)
            if wait > 0 and (worst is None or wait > worst.wait):
                worst = RateLimitHit(w.name, w.limit, w.used, 1, wait)
        tw = self._tokens
        if tw is not None:
            tw.expire(now)
            if tokens > tw.limit:
                return RateLimitHit(tw.name, tw.limit, tw.used, tokens, 0.0, too_large=True)
            wait = tw.wait_for(tokens, now)
            if wait > 0 and (worst is None or wait > worst.wait):
                worst = RateLimitHit(tw.name, tw.limit, tw.used, tokens, wait)
        if worst is not None:
            return worst
        for w in self._requests:
            w.events.append((now, 1))
            w.used += 1
        if tw is not None:
            tw.events.append((now, tokens))
            tw.used += tokens
        return None

    def headers(self, now: float) -> dict[str, str]:
        """`x-ratelimit-*` as Groq sends them; the requests trio describes the tightest window."""
        out: dict[str, str] = {}
        if self._requests:
            for w in self._requests:
                w.expire(now)
            w = min(self._requests, key=lambda x: (x.limit - x.used, x.span))
            out["x-ratelimit-limit-requests"] = str(w.limit)
            out["x-ratelimit-remaining-requests"] = str(max(0, w.limit - w.used))
            out["x-ratelimit-reset-requests"] = groq_duration(w.reset(now))
        tw = self._tokens
        if tw is not None:
            tw.expire(now)
            out["x-ratelimit-limit-tokens"] = str(tw.limit)
            out["x-ratelimit-remaining-tokens"] = str(max(0, tw.limit - tw.used))
            out["x-ratelimit-reset-tokens"] = groq_duration(tw.reset(now))
        return out
