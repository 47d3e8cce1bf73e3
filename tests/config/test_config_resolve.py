"""Config.resolve: aliases, unique pass-through, provider/model."""

from __future__ import annotations

from provider_fallback.config import config_from_dict


def _cfg():
    return config_from_dict({
        "providers": [{"name": "groq", "base_url": "https://g/v1", "timeout": 11},
                      {"name": "litellm", "base_url": "http://l/v1"},
                      {"name": "openrouter", "base_url": "https://o/v1"}],
        "models": {
            "groq-70b": ["groq/llama-3.3-70b-versatile",
                         {"provider": "litellm", "model": "groq-70b", "context": 131072},
                         "openrouter/minimax/minimax-m2.1:free"],
            "shared": ["groq/shared-model", "openrouter/shared-model"],
        },
    }, environ={})


def test_alias():
    cfg = _cfg()
    chain = cfg.resolve("groq-70b")
    assert chain is cfg.chains["groq-70b"]
    assert cfg.aliases == ("groq-70b", "shared")


def test_alias_wins_over_model_of_same_name():
    # litellm serves a model called "groq-70b", but the alias takes precedence
    assert len(_cfg().resolve("groq-70b").targets) == 3


def test_pass_through_unique_model():
    cfg = _cfg()
    chain = cfg.resolve("minimax/minimax-m2.1:free")
    assert chain is not None and chain.alias == "minimax/minimax-m2.1:free"
    assert [t.key for t in chain.targets] == ["openrouter/minimax/minimax-m2.1:free"]
    chain = cfg.resolve("llama-3.3-70b-versatile")
    assert [t.key for t in chain.targets] == ["groq/llama-3.3-70b-versatile"]
    assert chain.targets[0].policy.timeout == 11


def test_pass_through_keeps_configured_context():
    chain = _cfg().resolve("litellm/groq-70b")
    assert chain.targets[0].context == 131072


def test_ambiguous_model_is_none():
    assert _cfg().resolve("shared-model") is None


def test_unknown_is_none():
    cfg = _cfg()
    assert cfg.resolve("nope") is None
    assert cfg.resolve("unknown-provider/model") is None
    assert cfg.resolve("groq/") is None


def test_provider_slash_model():
    cfg = _cfg()
    chain = cfg.resolve("groq/shared-model")
    assert [t.key for t in chain.targets] == ["groq/shared-model"]
    chain = cfg.resolve("openrouter/anthropic/claude-3.5-sonnet")  # not in any chain
    target = chain.targets[0]
    assert (target.provider.name, target.model) == ("openrouter", "anthropic/claude-3.5-sonnet")
    assert target.policy == cfg.providers["openrouter"].policy
    assert target.context is None
