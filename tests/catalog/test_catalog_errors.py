"""Malformed catalog entries and bad `plan:` / `catalog:` keys name the file, key and fix."""

from __future__ import annotations

import pytest

from provider_fallback.catalog import Catalog, CatalogError
from provider_fallback.config import config_from_dict
from provider_fallback.errors import ConfigError

BASE = {"name": "x", "base_url": "http://h/v1", "hosts": ["h"], "plans": {"p": {}}}


@pytest.mark.parametrize(("change", "message"), [
    ({"base_url": None}, "missing required key 'base_url'"),
    ({"api": "grpc"}, "api: 'grpc' is not one of openai, anthropic"),
    ({"colour": 1}, "unknown keys ['colour']"),
    ({"no_plan": {"price": "gold"}}, "no_plan.price: 'gold' is not one of the plans"),
    ({"header_windows": {"requests": "rph"}}, "header_windows.requests"),
    ({"models": {"m": {"limits": {"q": {"rpm": 1}}}}}, "models.m.limits.q: not one of the plans"),
    ({"models": {"m": {"limits": {"p": {"rpm": 0}}}}}, "models.m.limits.p.rpm: expected a whole"),
    ({"models": {"m": {"price": {"input": 1}}}}, "models.m.price: expected {input, output}"),
    ({"models": {"m": {"price": {"input": -1, "output": 1}}}}, "models.m.price.input"),
    ({"models": {"m": {"free": True, "price": {"input": 1, "output": 1}}}}, "both free"),
    ({"models": {"m": {"continuation": "resume"}}}, "models.m.continuation: 'resume'"),
    ({"models": {"m": {"context": "big"}}}, "models.m.context"),
    ({"models": {"m": {"fronts": "nothing"}}}, "models.m.fronts"),
])
def test_entry_errors(change, message):
    data = {**BASE, **change}
    with pytest.raises(CatalogError, match="<entry 0>") as info:
        Catalog.from_dicts([{k: v for k, v in data.items() if v is not None}])
    assert message in str(info.value)


def _config(**provider):
    return config_from_dict({"providers": [{"name": "g", **provider}], "models": {"m": ["g/x"]}},
                            environ={})


def test_plan_must_be_one_of_the_entrys_plans():
    with pytest.raises(ConfigError) as info:
        _config(base_url="https://api.groq.com/openai/v1", plan="fre")
    text = str(info.value)
    assert "providers[0].plan" in text and "did you mean 'free'" in text
    assert "plans: free, developer" in text


def test_plan_without_an_entry_must_be_free():
    assert _config(base_url="http://10.0.0.1/v1", plan="free").providers["g"].plan == "free"
    with pytest.raises(ConfigError, match="only `plan: free`"):
        _config(base_url="http://10.0.0.1/v1", plan="pro")


def test_unknown_catalog_name():
    with pytest.raises(ConfigError) as info:
        _config(base_url="http://10.0.0.1/v1", catalog="grok")
    assert "unknown catalog entry 'grok'; did you mean 'groq'" in str(info.value)
    assert _config(base_url="https://api.groq.com/openai/v1", catalog="none").providers["g"]


def test_old_host_is_a_warning_naming_the_new_url():
    cfg = _config(base_url="https://kilocode.ai/api/openrouter")
    (warning,) = cfg.warnings
    assert "kilocode.ai/api/openrouter is Kilo Code gateway (api.kilo.ai)'s old address" in warning
    assert "set base_url: https://api.kilo.ai/api/openrouter" in warning
