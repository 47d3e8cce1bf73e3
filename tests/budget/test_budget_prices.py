"""Price lookup: config wins, then the provider catalog by provider, plan and model, with
the `:free` rule and LiteLLM-style prefixes."""

from __future__ import annotations

import pytest

from provider_fallback.budget import FREE, cost_usd, is_free, price_of, price_source
from provider_fallback.catalog import Catalog, default_catalog
from provider_fallback.config import Policy, Pricing, ProviderSpec, Target


def lookup(base_url: str, model: str, plan: str | None = None,
           catalog: Catalog | None = None) -> Pricing | None:
    return price_of(Target(ProviderSpec("p", base_url, plan=plan), model, Policy()), catalog)


def test_shipped_groq_prices(targets):
    assert price_of(targets["groq/llama-3.3-70b-versatile"]) == Pricing(0.59, 0.79)
    assert price_of(targets["groq/llama-3.1-8b-instant"]) == Pricing(0.05, 0.08)
    assert not is_free(targets["groq/llama-3.3-70b-versatile"])


def test_groq_free_plan_is_free():
    # the issue: a free-tier user accumulated phantom spend at the paid prices
    assert lookup("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", "free") == FREE
    assert lookup("https://api.groq.com/openai/v1", "groq/compound", "free") == FREE
    assert lookup("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile",
                  "developer") == Pricing(0.59, 0.79)
    # no plan named: the paid prices (never under-count spend)
    assert lookup("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile") == \
        Pricing(0.59, 0.79)
    assert lookup("https://api.groq.com/openai/v1", "groq/compound") is None


def test_openrouter_free_suffix_is_free_and_paid_twin_is_priced(targets):
    assert price_of(targets["openrouter/minimax/minimax-m2.1:free"]) == FREE
    assert is_free(targets["openrouter/minimax/minimax-m2.1:free"])
    # the catalog now ships the paid twin's price (before: unknown)
    assert price_of(targets["openrouter/minimax/minimax-m2.1"]) == Pricing(0.3, 1.2)
    assert not is_free(targets["openrouter/minimax/minimax-m2.1"])
    assert lookup("https://openrouter.ai/api/v1", "someone/new-model") is None


def test_free_suffix_only_counts_on_its_host():
    assert lookup("https://openrouter.ai/api/v1", "any/model:free") == FREE
    assert lookup("https://api.groq.com/openai/v1", "any/model:free") is None
    assert lookup("https://OpenRouter.AI:443/api/v1", "x:free") == FREE


def test_kilo_free_models_are_free_at_the_current_and_the_old_url():
    for url in ("https://api.kilo.ai/api/openrouter", "https://kilocode.ai/api/openrouter"):
        assert lookup(url, "z-ai/glm-5:free") == FREE
        assert lookup(url, "kilo-auto/free") == FREE
        assert lookup(url, "anthropic/claude-haiku-4.5") == Pricing(1.0, 5.0)


def test_litellm_style_prefix_uses_the_named_host_table(targets):
    assert price_of(targets["litellm/groq/llama-3.3-70b-versatile"]) == Pricing(0.59, 0.79)
    assert lookup("http://localhost:4000", "openrouter/z-ai/glm-5:free") == FREE
    assert lookup("http://localhost:4000", "groq/no-such-model") is None


def test_litellm_aliases_cost_what_they_front():
    assert lookup("http://localhost:4000/v1", "groq-70b") == Pricing(0.59, 0.79)
    assert lookup("http://localhost:4000/v1", "groq-8b") == Pricing(0.05, 0.08)
    assert lookup("http://localhost:4000/v1", "my-alias") is None
    # declared free: everything it fronts is free
    assert lookup("http://localhost:4000/v1", "groq-70b", "free") == FREE
    assert lookup("http://localhost:4000/v1", "my-alias", "free") == FREE
    # the user's `fronts:` names what an alias of their own serves
    spec = ProviderSpec("litellm", "http://localhost:4000/v1", model_settings={
        "mine": {"fronts": "groq/llama-3.1-8b-instant"}})
    assert price_of(Target(spec, "mine", Policy())) == Pricing(0.05, 0.08)


def test_local_servers_are_free():
    assert lookup("http://localhost:11434/v1", "llama3.2") == FREE
    assert lookup("http://127.0.0.1:1234/v1", "whatever") == FREE
    assert lookup("http://10.0.0.5:8000/v1", "whatever", "free") == FREE   # declared free


def test_config_overrides_defaults(targets):
    # gpt-oss-20b ships at 0.075/0.30; the target's own price wins
    assert price_of(targets["groq/openai/gpt-oss-20b"]) == Pricing(1.0, 2.0)
    assert price_source(targets["groq/openai/gpt-oss-20b"]) == "config"
    assert lookup("https://api.groq.com/openai/v1", "openai/gpt-oss-20b") == Pricing(0.075, 0.30)
    assert is_free(targets["openrouter/paid/but-free-here"])
    assert is_free(targets["local/tiny"])          # provider `models:` entry says free


def test_price_source_names_the_catalog_entry_and_plan(targets):
    assert price_source(targets["groq/llama-3.3-70b-versatile"]) == \
        "catalog groq, no plan set: developer"
    assert price_source(targets["local/mystery"]) is None


def test_unknown_price_is_none_costs_zero_and_is_not_free(targets):
    t = targets["local/mystery"]
    assert price_of(t) is None
    assert cost_usd(price_of(t), 1000, 1000) == 0.0
    assert not is_free(t)


def test_cost_arithmetic():
    p = Pricing(0.59, 0.79)
    assert cost_usd(p, 1_000_000, 0) == pytest.approx(0.59)
    assert cost_usd(p, 0, 1_000_000) == pytest.approx(0.79)
    assert cost_usd(p, 2000, 500) == pytest.approx((2000 * 0.59 + 500 * 0.79) / 1e6)
    assert cost_usd(p, 0, 0) == 0.0
    assert cost_usd(p, -5, -5) == 0.0
    assert cost_usd(Pricing(5.0, 5.0, free=True), 10**6, 10**6) == 0.0
    assert cost_usd(None, 10**6, 10**6) == 0.0


def test_injected_catalog():
    catalog = Catalog.from_dicts([{"name": "e", "base_url": "https://example.com/v1",
                                   "hosts": ["Example.com"], "plans": {"p": {}},
                                   "models": {"m": {"price": {"input": 1, "output": 3}},
                                              "*-gratis": {"free": True}}}])
    assert lookup("https://example.com/v1", "m", catalog=catalog) == Pricing(1.0, 3.0)
    assert lookup("https://example.com/v1", "x-gratis", catalog=catalog) == FREE
    assert lookup("https://example.com/v1", "other", catalog=catalog) is None


def test_shipped_catalog_covers_the_seed_models():
    groq = default_catalog().entries["groq"].models
    assert set(groq) >= {"llama-3.3-70b-versatile", "llama-3.1-8b-instant",
                         "openai/gpt-oss-120b", "openai/gpt-oss-20b"}
