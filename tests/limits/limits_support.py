"""Clocks and targets shared by the limits tests."""

from __future__ import annotations

from datetime import UTC, datetime

from provider_fallback.config import Policy, ProviderSpec, RateLimits, Target

# 2026-02-10 12:00 UTC: twelve hours before the next UTC midnight
NOON = datetime(2026, 2, 10, 12, tzinfo=UTC).timestamp()
GROQ = ProviderSpec("groq", "https://api.groq.com/openai/v1")
OTHER = ProviderSpec("local", "http://127.0.0.1:9/v1")


class Clocks:
    """A monotonic clock and a wall clock moved together by hand."""

    def __init__(self, wall: float = NOON, mono: float = 1000.0) -> None:
        self.wall = wall
        self.mono = mono

    def __call__(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> float:
        self.wall += seconds
        self.mono += seconds
        return self.mono


def target(model: str = "llama-3.3-70b-versatile", spec: ProviderSpec = GROQ,
           limits: RateLimits | None = None) -> Target:
    return Target(spec, model, Policy(), limits=limits)
