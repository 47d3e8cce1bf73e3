from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from provider_fallback.config import Config, Target, config_from_dict

# 2026-02-10 12:00 UTC: mid-month, mid-day
NOON = datetime(2026, 2, 10, 12, tzinfo=UTC).timestamp()


class Clock:
    """An injected wall clock (time.time) that tests move by hand."""

    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()


CONFIG: dict[str, Any] = {
    "providers": [
        {"name": "groq", "base_url": "https://api.groq.com/openai/v1"},
        {"name": "openrouter", "base_url": "https://openrouter.ai/api/v1"},
        {"name": "litellm", "base_url": "http://localhost:4000"},
        {"name": "local", "base_url": "http://127.0.0.1:8080/v1",
         "models": {"tiny": {"free": True}}},
    ],
    "models": {
        "main": [
            "groq/llama-3.3-70b-versatile",
            "groq/llama-3.1-8b-instant",
            "openrouter/minimax/minimax-m2.1:free",
            "openrouter/minimax/minimax-m2.1",
            "litellm/groq/llama-3.3-70b-versatile",
            "local/tiny",
            "local/mystery",
            {"provider": "groq", "model": "openai/gpt-oss-20b",
             "price": {"input": 1.0, "output": 2.0}},
            {"provider": "openrouter", "model": "paid/but-free-here", "free": True},
        ],
    },
    "health": {"enabled": False},
}


def make_config(**budget: Any) -> Config:
    data = dict(CONFIG)
    if budget:
        data["budget"] = budget
    return config_from_dict(data, environ={})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def targets() -> dict[str, Target]:
    """The "main" chain's targets by key ("provider/model")."""
    return {t.key: t for t in make_config().chains["main"].targets}
