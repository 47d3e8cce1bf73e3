"""Valid configs compile to the frozen model the router reads."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
from config_samples import FULL_ENV, FULL_YAML, GROQ_KEY, MASTER_KEY, OPENROUTER_KEY

from provider_fallback._secret import Secret
from provider_fallback.config import Chain, Policy, config_from_dict, load_config


def test_full_config(write_config):
    cfg = load_config(write_config(FULL_YAML), environ=FULL_ENV)
    assert cfg.server.host == "127.0.0.1" and cfg.server.port == 4100
    assert cfg.server.max_body_size == 20 * 1024 * 1024
    assert isinstance(cfg.server.master_key, Secret) and cfg.server.master_key.reveal() == MASTER_KEY
    assert list(cfg.providers) == ["groq", "litellm", "openrouter"]
    groq = cfg.providers["groq"]
    assert groq.base_url == "https://api.groq.com/openai/v1"
    assert groq.api_key is not None and groq.api_key.reveal() == GROQ_KEY
    assert groq.api_key_source == "os.environ/GROQ_API_KEY"
    assert dict(groq.headers) == {"X-Title": "my-app"}
    assert (groq.optional, groq.probe, groq.max_connections) == (False, True, 100)
    assert cfg.providers["litellm"].base_url == "http://127.0.0.1:4000"  # trailing slash dropped
    assert cfg.providers["litellm"].api_key is None
    assert cfg.providers["openrouter"].api_key.reveal() == OPENROUTER_KEY
    assert cfg.aliases == ("groq-70b",)
    keys = [t.key for t in cfg.chains["groq-70b"].targets]
    assert keys == ["groq/llama-3.3-70b-versatile", "litellm/groq-70b",
                    "openrouter/minimax/minimax-m2.1:free"]
    assert cfg.policy.cooldown_for("rate_limit", 5) == 60
    assert cfg.policy.cooldown_for("invalid_api_key", 5) == 1800
    assert cfg.policy.cooldown_for("server_error", 5) == 5
    assert cfg.source == str(write_config(FULL_YAML))
    assert cfg.warnings == ()


def test_values_are_frozen(write_config):
    cfg = load_config(write_config(FULL_YAML), environ=FULL_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.policy.timeout = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.providers["x"] = cfg.providers["groq"]  # type: ignore[index]
    assert isinstance(cfg.policy.cooldowns, MappingProxyType)
    assert isinstance(cfg.chains["groq-70b"].targets, tuple)


def test_first_slash_split():
    cfg = config_from_dict({"providers": [{"name": "openrouter", "base_url": "https://o/v1"}],
                            "models": {"m": ["openrouter/minimax/minimax-m2.1:free"]}}, environ={})
    target = cfg.chains["m"].targets[0]
    assert target.provider.name == "openrouter"
    assert target.model == "minimax/minimax-m2.1:free"
    assert target.key == "openrouter/minimax/minimax-m2.1:free"


def test_dotenv_beside_config(write_config):
    dotenv = (f"# keys\nexport GROQ_API_KEY={GROQ_KEY}\n"
              f"OPENROUTER_API_KEY=\"{OPENROUTER_KEY}\"  # quoted\n"
              f"PROVIDER_FALLBACK_MASTER_KEY='from-dotenv-master-key'\n")
    path = write_config(FULL_YAML, dotenv)
    cfg = load_config(path, environ={"PROVIDER_FALLBACK_MASTER_KEY": "environment-wins-master"})
    assert cfg.providers["groq"].api_key.reveal() == GROQ_KEY
    assert cfg.providers["openrouter"].api_key.reveal() == OPENROUTER_KEY
    assert cfg.server.master_key.reveal() == "environment-wins-master"


def test_braced_reference_inside_a_string():
    cfg = config_from_dict({
        "providers": [{"name": "p", "base_url": "https://${HOST}/v1",
                       "headers": {"X-Token": "Bearer ${TOKEN}", "X-Title": "app"}}],
        "models": {"m": ["p/x"]},
    }, environ={"HOST": "api.example.com", "TOKEN": "tok-123"})
    p = cfg.providers["p"]
    assert p.base_url == "https://api.example.com/v1"
    token = p.headers["X-Token"]
    assert isinstance(token, Secret) and token.reveal() == "Bearer tok-123"
    assert p.headers["X-Title"] == "app"  # literal header stays a plain str


def test_auth_like_literal_headers_are_secret():
    cfg = config_from_dict({"providers": [{"name": "p", "base_url": "http://h",
                                           "headers": {"X-Api-Key": "short", "X-Title": "t"}}],
                            "models": {"m": ["p/x"]}}, environ={})
    headers = cfg.providers["p"].headers
    assert isinstance(headers["X-Api-Key"], Secret) and headers["X-Title"] == "t"


def test_defaults():
    cfg = config_from_dict({"providers": [{"name": "p", "base_url": "http://h"}],
                            "models": {"m": ["p/x"]}}, environ={})
    assert cfg.server.host == "127.0.0.1" and cfg.server.port == 4100
    assert cfg.server.master_key is None
    assert cfg.policy == Policy()
    p = cfg.providers["p"]
    assert (p.optional, p.probe, p.max_connections, p.api_key) == (False, True, 100, None)


def test_mapping_target_overrides_merged():
    cfg = config_from_dict({
        "policy": {"timeout": "45s", "max_retries": 3},
        "providers": [{"name": "p", "base_url": "http://h", "ttft_timeout": 7}],
        "models": {"m": [{"provider": "p", "model": "x", "context": 8192, "timeout": "1m",
                          "stall_timeout": "500ms"}, "p/y"]},
    }, environ={})
    first, second = cfg.chains["m"].targets
    assert first.context == 8192 and second.context is None
    assert (first.policy.timeout, first.policy.stall_timeout) == (60, 0.5)
    assert first.policy.ttft_timeout == 7 and first.policy.max_retries == 3
    assert second.policy == cfg.providers["p"].policy


def test_policy_merge_order():
    cfg = config_from_dict({
        "policy": {"timeout": 40, "connect_timeout": 9, "backoff_max": 8,
                   "cooldowns": {"rate_limit": 10, "server_error": 20}},
        "providers": [{"name": "p", "base_url": "http://h", "timeout": 50,
                       "policy": {"connect_timeout": 8, "cooldowns": {"rate_limit": 11}}}],
        "models": {"m": [{"provider": "p", "model": "x", "connect_timeout": 7,
                          "cooldowns": {"server_error": 21}}]},
    }, environ={})
    assert cfg.policy.timeout == 40 and cfg.policy.stall_timeout == 15  # global over defaults
    provider = cfg.providers["p"].policy
    assert (provider.timeout, provider.connect_timeout, provider.backoff_max) == (50, 8, 8)
    assert dict(provider.cooldowns) == {"rate_limit": 11, "server_error": 20}
    target = cfg.chains["m"].targets[0].policy
    assert (target.timeout, target.connect_timeout, target.backoff_max) == (50, 7, 8)
    assert dict(target.cooldowns) == {"rate_limit": 11, "server_error": 21}


def test_optional_provider_skipped_and_targets_removed():
    cfg = config_from_dict({
        "providers": [{"name": "groq", "base_url": "https://g/v1",
                       "api_key": "os.environ/GROQ_API_KEY", "optional": True},
                      {"name": "local", "base_url": "http://127.0.0.1:8000/v1"}],
        "models": {"chat": ["groq/llama", "local/llama"]},
    }, environ={})
    assert list(cfg.providers) == ["local"]
    assert [t.key for t in cfg.chains["chat"].targets] == ["local/llama"]
    assert any("groq" in w and "GROQ_API_KEY" in w for w in cfg.warnings)


def test_literal_secret_allowed_with_flag():
    cfg = config_from_dict({"allow_literal_secrets": True,
                            "providers": [{"name": "p", "base_url": "http://h",
                                           "api_key": GROQ_KEY}],
                            "models": {"m": ["p/x"]}}, environ={})
    assert cfg.providers["p"].api_key.reveal() == GROQ_KEY
    assert cfg.providers["p"].api_key_source == "literal"


def test_short_literal_key_is_fine():
    cfg = config_from_dict({"providers": [{"name": "p", "base_url": "http://h",
                                           "api_key": "sk-1234"}],
                            "models": {"m": ["p/x"]}}, environ={})
    assert cfg.providers["p"].api_key.reveal() == "sk-1234"


def test_non_loopback_host_with_master_key(write_config):
    text = FULL_YAML.replace("host: 127.0.0.1", "host: 0.0.0.0")
    cfg = load_config(write_config(text), environ=FULL_ENV)
    assert cfg.server.host == "0.0.0.0"


def test_port_4000_warns():
    cfg = config_from_dict({"server": {"port": 4000},
                            "providers": [{"name": "p", "base_url": "http://h"}],
                            "models": {"m": ["p/x"]}}, environ={})
    assert any("4000" in w for w in cfg.warnings)


def test_config_from_dict_reads_dotenv_from_base_dir(tmp_path):
    (tmp_path / ".env").write_text("K=from-file\n", encoding="utf-8")
    cfg = config_from_dict({"providers": [{"name": "p", "base_url": "http://h",
                                           "api_key": "os.environ/K"}],
                            "models": {"m": ["p/x"]}}, base_dir=tmp_path, environ={})
    assert cfg.providers["p"].api_key.reveal() == "from-file"


def test_resolve_returns_chain_objects(write_config):
    cfg = load_config(write_config(FULL_YAML), environ=FULL_ENV)
    chain = cfg.resolve("groq-70b")
    assert isinstance(chain, Chain) and chain is cfg.chains["groq-70b"]
