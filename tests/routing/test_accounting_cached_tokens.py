"""Cached prompt tokens are not counted against token limits where the provider says so."""

from __future__ import annotations

from provider_fallback.config import config_from_dict
from provider_fallback.routing._accounting import Accounting
from provider_fallback.telemetry import EventBus

USAGE = {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010,
         "prompt_tokens_details": {"cached_tokens": 800}}


def _accounting():
    cfg = config_from_dict({
        "providers": [{"name": "groq", "base_url": "https://api.groq.com/openai/v1", "plan": "free"},
                      {"name": "openrouter", "base_url": "https://openrouter.ai/api/v1"}],
        "models": {"m": ["groq/llama-3.3-70b-versatile", "openrouter/z-ai/glm-5"]},
        "health": {"enabled": False}}, environ={})
    return Accounting(cfg, EventBus(), clock=lambda: 100.0), cfg.chains["m"].targets


def test_groq_does_not_count_cached_prompt_tokens():
    acct, (groq, openrouter) = _accounting()
    for target in (groq, openrouter):
        reservation = acct.reserve(target, 50, 100.0)
        acct.answered(target, reservation, USAGE, 100.0)
    # Groq (the catalog: cached tokens don't count towards limits): 1010 - 800
    assert acct.limits_view(groq, 100.0)["tpm"]["used"] == 210
    assert acct.limits_view(groq, 100.0)["tpd"]["used"] == 210
    # everywhere else cached tokens are counted like any other
    assert acct.limits_view(openrouter, 100.0)["tpm"]["used"] == 1010


def test_usage_without_details_is_counted_whole():
    acct, (groq, _) = _accounting()
    reservation = acct.reserve(groq, 50, 100.0)
    acct.answered(groq, reservation, {"prompt_tokens": 40, "completion_tokens": 2}, 100.0)
    assert acct.limits_view(groq, 100.0)["tpm"]["used"] == 42
