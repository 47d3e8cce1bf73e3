"""The shipped catalog: every file parses, and the facts the issue asks for are there."""

from __future__ import annotations

from importlib import resources

import pytest

from provider_fallback.catalog import FREE, Catalog, default_catalog
from provider_fallback.config import Policy, ProviderSpec, RateLimits, Target

REQUIRED = ("groq", "openrouter", "kilo", "litellm", "ollama", "lmstudio", "gemini", "cerebras")


def resolve(base_url: str, model: str, plan: str | None = None, name: str = "p"):
    return default_catalog().resolve(ProviderSpec(name, base_url, plan=plan), model)


def test_every_file_parses_and_the_required_providers_are_there():
    files = [f for f in resources.files("provider_fallback").joinpath("data", "catalog").iterdir()
             if f.name.endswith(".yaml")]
    assert len(files) == len(default_catalog().entries)
    assert set(REQUIRED) <= set(default_catalog().entries)
    for entry in default_catalog().entries.values():
        assert entry.api in ("openai", "anthropic")
        assert entry.base_url.startswith(("http://", "https://"))
        assert entry.hosts or entry.ports or entry.names, entry.name


def test_groq_free_and_developer_plans():
    entry = default_catalog().entries["groq"]
    assert list(entry.plans) == ["free", "developer"]
    assert entry.plans["free"].free and not entry.plans["developer"].free
    seeds = {"llama-3.1-8b-instant": RateLimits(30, 14400, 6000, 500000),
             "llama-3.3-70b-versatile": RateLimits(30, 1000, 12000, 100000),
             "openai/gpt-oss-120b": RateLimits(30, 1000, 8000, 200000),
             "groq/compound": RateLimits(30, 250, 70000, None)}
    for model, limits in seeds.items():
        free = resolve("https://api.groq.com/openai/v1", model, "free")
        assert free.limits == limits and free.price == FREE and free.context == 131072
        assert not free.cached_tokens_count      # "Cached tokens don't count towards limits"


@pytest.mark.parametrize(("plan", "rpd"), [("free", 50), ("credits", 1000), (None, 50)])
def test_openrouter_free_models_by_plan(plan, rpd):
    found = resolve("https://openrouter.ai/api/v1", "minimax/minimax-m2.1:free", plan)
    assert found.price == FREE
    assert found.limits == RateLimits(rpm=20, rpd=rpd)
    paid = resolve("https://openrouter.ai/api/v1", "anthropic/claude-sonnet-4.5", plan)
    assert paid.price is not None and not paid.price.free and paid.limits is None
    assert paid.context == 1_000_000


def test_kilo_current_url_and_free_models():
    kilo = default_catalog().entries["kilo"]
    assert kilo.base_url == "https://api.kilo.ai/api/openrouter"
    assert kilo.key_env == "KILO_API_KEY"
    assert "kilocode.ai" in kilo.old_hosts
    assert resolve(kilo.base_url, "kilo-auto/free").price == FREE
    assert resolve(kilo.base_url, "z-ai/glm-5:free").price == FREE


def test_capabilities_for_continuation():
    # OpenAI models answer a trailing assistant message anew: restart, also via OpenRouter
    assert resolve("https://api.openai.com/v1", "gpt-4o").continuation == "restart"
    assert resolve("https://openrouter.ai/api/v1", "openai/gpt-5").continuation == "restart"
    assert resolve("https://openrouter.ai/api/v1", "openai/gpt-oss-20b:free").continuation == \
        "restart"
    assert resolve("https://openrouter.ai/api/v1", "anthropic/claude-sonnet-4.5").continuation \
        == "prefill"
    assert resolve("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile").stream_usage


def test_seed_models_have_context_windows():
    for model in ("llama-3.1-8b-instant", "llama-3.3-70b-versatile", "openai/gpt-oss-120b",
                  "openai/gpt-oss-20b", "groq/compound", "groq/compound-mini"):
        assert resolve("https://api.groq.com/openai/v1", model).context == 131072
    assert resolve("https://openrouter.ai/api/v1", "minimax/minimax-m2.1").context == 204800
    assert resolve("https://openrouter.ai/api/v1", "z-ai/glm-5").context == 204800


def test_local_and_google_and_cerebras():
    assert resolve("http://localhost:11434/v1", "llama3.2").price == FREE
    assert resolve("http://127.0.0.1:1234/v1", "qwen/qwen3-coder-30b").context == 262144
    gemini = default_catalog().entries["gemini"]
    assert gemini.base_url == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert resolve(gemini.base_url, "gemini-2.5-flash", "free").price == FREE
    assert not resolve(gemini.base_url, "gemini-2.5-flash").price.free
    assert resolve("https://api.cerebras.ai/v1", "gpt-oss-120b").context == 131072


def test_compiled_targets_take_context_and_capabilities_from_the_catalog():
    from provider_fallback.config import config_from_dict

    cfg = config_from_dict({"providers": [{"name": "o", "base_url": "https://openrouter.ai/api/v1"}],
                            "models": {"m": ["o/openai/gpt-5", "o/anthropic/claude-haiku-4.5"]}},
                           environ={})
    gpt, claude = cfg.chains["m"].targets
    assert (gpt.context, gpt.continuation) == (400000, "restart")
    assert (claude.context, claude.continuation) == (200000, "prefill")
    passing = cfg.resolve("o/z-ai/glm-5").targets[0]
    assert passing.context == 204800


def test_a_user_directory_adds_and_overrides_entries(tmp_path, monkeypatch):
    (tmp_path / "groq.yaml").write_text(
        "name: groq\nbase_url: https://api.groq.com/openai/v1\nhosts: [api.groq.com]\n"
        "plans: {free: {free: true}}\nmodels: {m: {context: 7}}\n", encoding="utf-8")
    shipped = resources.files("provider_fallback").joinpath("data", "catalog")
    catalog = Catalog.from_dirs(shipped, tmp_path)  # type: ignore[arg-type]
    t = Target(ProviderSpec("g", "https://api.groq.com/openai/v1"), "m", Policy())
    assert catalog.resolve(t.provider, "m").context == 7
    assert "openrouter" in catalog.entries
