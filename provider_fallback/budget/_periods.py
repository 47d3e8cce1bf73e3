"""UTC periods of a wall-clock time: its day and month keys and the next UTC midnight.

POSIX time has no leap seconds, so every UTC day is exactly 86,400 s long and starts at
`wall - wall % 86_400`. `UtcDays` formats the keys (`strftime`) once per day and answers
every other call from the span it holds: the budget asks on every priced answer, and
formatting there cost more than the rest of the charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["DAY_SECONDS", "DaySpan", "UtcDays", "day_key", "day_span", "month_key"]

DAY_SECONDS = 86_400


def day_key(wall: float) -> str:
    """The UTC day of a wall-clock time, "YYYY-MM-DD"."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d")


def month_key(wall: float) -> str:
    """The UTC month of a wall-clock time, "YYYY-MM"."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class DaySpan:
    """One UTC day: [start, end) in wall-clock seconds and its keys."""

    start: float
    end: float          # the next UTC midnight
    day: str            # "YYYY-MM-DD"
    month: str          # "YYYY-MM"

    def __contains__(self, wall: float) -> bool:
        return self.start <= wall < self.end


def day_span(wall: float) -> DaySpan:
    """The UTC day `wall` falls in. The keys are formatted from the day's start, an exact
    midnight: formatting `wall` itself could round 23:59:59.9999996 up to the next day."""
    start = wall - wall % DAY_SECONDS
    day = day_key(start)
    return DaySpan(start, start + DAY_SECONDS, day, day[:7])


_EMPTY = DaySpan(0.0, 0.0, "", "")   # contains no time: the first call computes


class UtcDays:
    """The current `DaySpan`, recomputed only when the wall clock leaves it (a new day, or
    the clock stepped back). Safe from several threads: the span is swapped whole."""

    __slots__ = ("_span",)

    def __init__(self) -> None:
        self._span = _EMPTY

    def at(self, wall: float) -> DaySpan:
        span = self._span
        if span.start <= wall < span.end:
            return span
        span = self._span = day_span(wall)
        return span
