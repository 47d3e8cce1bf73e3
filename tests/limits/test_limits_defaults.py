"""Shipped limits from the provider catalog (data/catalog/), and config overriding them
field by field."""

from __future__ import annotations

from importlib import resources

import pytest
from limits_support import GROQ, OTHER, target

from provider_fallback.catalog import Catalog
from provider_fallback.config import ProviderSpec, RateLimits
from provider_fallback.limits import RateLedger, default_limits, header_windows


def test_catalog_ships_with_the_package():
    data = resources.files("provider_fallback").joinpath("data", "catalog", "groq.yaml")
    assert data.is_file()


@pytest.mark.parametrize(("model", "limits"), [
    ("llama-3.1-8b-instant", RateLimits(30, 14400, 6000, 500000)),
    ("llama-3.3-70b-versatile", RateLimits(30, 1000, 12000, 100000)),
    ("openai/gpt-oss-120b", RateLimits(30, 1000, 8000, 200000)),
    ("openai/gpt-oss-20b", RateLimits(30, 1000, 8000, 200000)),
    ("groq/compound", RateLimits(30, 250, 70000, None)),
    ("groq/compound-mini", RateLimits(30, 250, 70000, None)),
])
def test_groq_defaults_from_the_seeds(model, limits):
    assert default_limits(target(model)) == limits


def test_matching_is_by_host_and_model():
    assert default_limits(target("llama-3.3-70b-versatile", OTHER)) is None
    assert default_limits(target("unknown-model")) is None
    upper = ProviderSpec("g", "HTTPS://API.GROQ.COM:443/openai/v1")
    assert default_limits(target("llama-3.1-8b-instant", upper)) is not None
    # a LiteLLM proxy serving Groq models under "groq/..."
    proxied = target("groq/llama-3.3-70b-versatile", OTHER)
    assert default_limits(proxied) == RateLimits(30, 1000, 12000, 100000)
    assert header_windows(proxied) == {}
    assert header_windows(target()) == {"requests": "rpd", "tokens": "tpm"}


def test_config_overrides_defaults_per_field(clocks):
    ledger = RateLedger(wall=clocks)
    t = target(limits=RateLimits(rpm=5, tpd=777))
    view = ledger.view(t, clocks.mono)
    assert {k: (view[k]["limit"], view[k]["source"]) for k in ("rpm", "rpd", "tpm", "tpd")} == {
        "rpm": (5, "config"), "rpd": (1000, "default"), "tpm": (12000, "default"),
        "tpd": (777, "config")}
    unknown = ledger.view(target("mystery", OTHER), clocks.mono)
    assert unknown["rpm"] == {"limit": None, "used": 0, "remaining": None, "reset_in_s": 0.0,
                              "source": None}


def test_plan_picks_the_limits():
    # Groq's free plan has the seeds' numbers; the developer plan ships none (headers teach)
    free = ProviderSpec("groq", "https://api.groq.com/openai/v1", plan="free")
    dev = ProviderSpec("groq", "https://api.groq.com/openai/v1", plan="developer")
    assert default_limits(target("llama-3.3-70b-versatile", free)) == \
        RateLimits(30, 1000, 12000, 100000)
    assert default_limits(target("llama-3.3-70b-versatile", dev)) is None


def test_ledger_reads_an_injected_catalog(clocks):
    catalog = Catalog.from_dicts([{"name": "x", "base_url": "http://h.example/v1",
                                   "hosts": ["h.example"], "plans": {"p": {}},
                                   "models": {"m": {"limits": {"p": {"rpm": 2}}}}}])
    spec = ProviderSpec("x", "http://h.example/v1")
    assert default_limits(target("m", spec), catalog) == RateLimits(rpm=2)
    ledger = RateLedger(wall=clocks, catalog=catalog)
    assert ledger.view(target("m", spec), clocks.mono)["rpm"]["limit"] == 2
    assert GROQ.base_url.startswith("https://api.groq.com")
