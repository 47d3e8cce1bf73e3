"""Rate-limit buckets that really run out (fixed windows on an injected clock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Bucket", "fmt_reset"]


def fmt_reset(seconds: float) -> str:
    """Groq's reset format: `2m59.56s`, `7.66s`, `120ms`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.2f}s" if minutes else f"{rest:.2f}s"


@dataclass
class Bucket:
    limit: int
    window: float
    clock: Callable[[], float]
    used: int = 0
    started: float = 0.0

    def _roll(self) -> None:
        now = self.clock()
        if now - self.started >= self.window:
            self.started = now
            self.used = 0

    def reset_in(self) -> float:
        self._roll()
        return max(0.0, self.started + self.window - self.clock())

    def remaining(self) -> int:
        self._roll()
        return max(0, self.limit - self.used)

    def take(self, amount: int = 1) -> bool:
        self._roll()
        if self.used + amount > self.limit:
            return False
        self.used += amount
        return True
