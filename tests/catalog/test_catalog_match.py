"""Which catalog entry applies to a provider: `catalog:`, host, old host, port, name."""

from __future__ import annotations

import pytest

from provider_fallback.catalog import default_catalog
from provider_fallback.config import ProviderSpec


@pytest.mark.parametrize(("name", "url", "entry", "reason"), [
    ("g", "https://api.groq.com/openai/v1", "groq", "host api.groq.com"),
    ("g", "HTTPS://API.GROQ.COM:443/openai/v1", "groq", "host api.groq.com"),
    ("k", "https://kilocode.ai/api/openrouter", "kilo", "old host kilocode.ai"),
    ("l", "http://localhost:4000/v1", "litellm", "local port 4000"),
    ("l", "http://127.0.0.1:11434/v1", "ollama", "local port 11434"),
    ("l", "http://[::1]:1234/v1", "lmstudio", "local port 1234"),
    ("litellm", "http://litellm.internal:8000", "litellm", "provider name litellm"),
])
def test_matching(name, url, entry, reason):
    match = default_catalog().match(ProviderSpec(name, url))
    assert match is not None and (match.entry.name, match.reason) == (entry, reason)
    assert match.old_host == reason.startswith("old host")


def test_no_match():
    catalog = default_catalog()
    assert catalog.match(ProviderSpec("x", "http://10.1.2.3:4000/v1")) is None   # port: loopback only
    assert catalog.match(ProviderSpec("groq", "http://127.0.0.1:9/v1")) is None  # a sim named groq
    assert catalog.match(ProviderSpec("x", "https://api.groq.com/v1", catalog="none")) is None


def test_explicit_catalog_wins():
    match = default_catalog().match(ProviderSpec("relay", "https://relay.example/v1",
                                                 catalog="groq"))
    assert match is not None and (match.entry.name, match.reason) == ("groq", "catalog: groq")


def test_validate_says_which_entry_and_plan_applied():
    from provider_fallback.config import config_from_dict, describe

    cfg = config_from_dict({"providers": [
        {"name": "g", "base_url": "https://api.groq.com/openai/v1"},
        {"name": "k", "base_url": "https://kilocode.ai/api/openrouter"},
        {"name": "x", "base_url": "http://10.0.0.9/v1", "plan": "free"}],
        "models": {"m": ["g/llama-3.1-8b-instant", "k/z-ai/glm-5:free", "x/any"]}}, environ={})
    text = describe(cfg)
    assert ("catalog: groq (host api.groq.com)  plan: not set (developer prices, free limits; "
            "set plan: free | developer)") in text
    assert "catalog: kilo (old host kilocode.ai) MOVED: now https://api.kilo.ai/api/openrouter" in text
    assert "catalog: none  plan: free (every model free)" in text
    assert ("price 0.05/0.08 USD per 1M in/out (catalog groq, no plan set: developer); limits "
            "rpm=30 rpd=14400 tpm=6000 tpd=500000 (catalog groq, no plan set: free)") in text
    assert "price free (catalog kilo, plan free)" in text
    assert "price free (plan: free)" in text
