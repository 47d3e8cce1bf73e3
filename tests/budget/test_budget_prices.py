"""Price lookup: config wins, shipped defaults by host + model, the `:free` rule."""

from __future__ import annotations

import pytest

from provider_fallback.budget import FREE, PriceTable, cost_usd, default_prices, is_free, price_of
from provider_fallback.config import Pricing


def test_shipped_groq_prices(targets):
    assert price_of(targets["groq/llama-3.3-70b-versatile"]) == Pricing(0.59, 0.79)
    assert price_of(targets["groq/llama-3.1-8b-instant"]) == Pricing(0.05, 0.08)
    assert not is_free(targets["groq/llama-3.3-70b-versatile"])


def test_openrouter_free_suffix_is_free_and_paid_twin_is_unknown(targets):
    assert price_of(targets["openrouter/minimax/minimax-m2.1:free"]) == FREE
    assert is_free(targets["openrouter/minimax/minimax-m2.1:free"])
    assert price_of(targets["openrouter/minimax/minimax-m2.1"]) is None
    assert not is_free(targets["openrouter/minimax/minimax-m2.1"])


def test_free_suffix_only_counts_on_its_host():
    table = default_prices()
    assert table.lookup("https://openrouter.ai/api/v1", "any/model:free") == FREE
    assert table.lookup("https://api.groq.com/openai/v1", "any/model:free") is None
    assert table.lookup("https://OpenRouter.AI:443/api/v1", "x:free") == FREE


def test_litellm_style_prefix_uses_the_named_host_table(targets):
    assert price_of(targets["litellm/groq/llama-3.3-70b-versatile"]) == Pricing(0.59, 0.79)
    table = default_prices()
    assert table.lookup("http://localhost:4000", "openrouter/z-ai/glm-5:free") == FREE
    assert table.lookup("http://localhost:4000", "groq/no-such-model") is None


def test_config_overrides_defaults(targets):
    # gpt-oss-20b ships at 0.075/0.30; the target's own price wins
    assert price_of(targets["groq/openai/gpt-oss-20b"]) == Pricing(1.0, 2.0)
    assert default_prices().lookup("https://api.groq.com/openai/v1", "openai/gpt-oss-20b") == \
        Pricing(0.075, 0.30)
    assert is_free(targets["openrouter/paid/but-free-here"])
    assert is_free(targets["local/tiny"])          # provider `models:` entry says free


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


def test_price_table_from_dict_and_errors(tmp_path):
    table = PriceTable.from_dict({"hosts": {"Example.com": {"m": {"input": 1, "output": 3}}},
                                  "free_suffixes": {"example.com": "-gratis"}})
    assert table.lookup("https://example.com/v1", "m") == Pricing(1.0, 3.0)
    assert table.lookup("https://example.com/v1", "x-gratis") == FREE
    for bad in ({"m": {"input": 1}}, {"m": {"input": -1, "output": 1}}, {"m": 3},
                {"m": {"input": 1, "output": 1, "cached": 1}}):
        with pytest.raises(ValueError, match="example.com/m"):
            PriceTable.from_dict({"hosts": {"example.com": bad}})
    f = tmp_path / "prices.yaml"
    f.write_text("hosts:\n  h.io:\n    a: {free: true}\n")
    assert PriceTable.from_file(f).lookup("http://h.io", "a") == FREE


def test_shipped_file_parses_and_covers_the_seed_models():
    table = default_prices()
    groq = table.hosts["api.groq.com"]
    assert set(groq) >= {"llama-3.3-70b-versatile", "llama-3.1-8b-instant",
                         "openai/gpt-oss-120b", "openai/gpt-oss-20b"}
    assert table.free_suffixes["openrouter.ai"] == ":free"
