"""Keys never show up in describe(), reprs or error messages."""

from __future__ import annotations

import pytest
from config_samples import FULL_ENV, FULL_YAML, GROQ_KEY, MASTER_KEY, OPENROUTER_KEY

from provider_fallback.config import config_from_dict, describe, load_config
from provider_fallback.errors._exceptions import ConfigError

SECRETS = (GROQ_KEY, OPENROUTER_KEY, MASTER_KEY)


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert secret[4:20] not in text


def test_describe_never_prints_keys(write_config):
    cfg = load_config(write_config(FULL_YAML), environ=FULL_ENV)
    text = describe(cfg)
    _assert_clean(text)
    _assert_clean(repr(cfg) + str(cfg.providers))
    assert "api_key: set (os.environ/GROQ_API_KEY)" in text
    assert "api_key: set (${OPENROUTER_API_KEY})" in text
    assert "master_key: set (os.environ/PROVIDER_FALLBACK_MASTER_KEY)" in text
    assert "litellm  http://127.0.0.1:4000  api_key: none" in text
    lines = text.splitlines()
    i = lines.index("  groq-70b")
    assert lines[i + 1] == "    1. groq/llama-3.3-70b-versatile"
    assert lines[i + 2].startswith("       price 0.59/0.79 USD per 1M in/out (catalog groq")
    assert lines[i + 3].startswith("    2. litellm/groq-70b  (timeout=1m")
    assert "context 131072 (catalog litellm)" in lines[i + 4]   # the config says the same
    assert lines[i + 5] == "    3. openrouter/minimax/minimax-m2.1:free"


def test_literal_keys_allowed_still_hidden():
    cfg = config_from_dict({"allow_literal_secrets": True,
                            "server": {"master_key": MASTER_KEY},
                            "providers": [{"name": "p", "base_url": "http://h",
                                           "api_key": GROQ_KEY,
                                           "headers": {"X-Key": OPENROUTER_KEY}}],
                            "models": {"m": ["p/x"]}}, environ={})
    _assert_clean(describe(cfg) + repr(cfg))
    assert "api_key: set (literal)" in describe(cfg)


@pytest.mark.parametrize("data", [
    # wrong types where a key sits in the value
    {"providers": [{"name": "p", "base_url": "http://h", "api_key": "os.environ/K",
                    "max_connections": "os.environ/K"}], "models": {"m": ["p/x"]}},
    {"providers": [{"name": "p", "base_url": "${K}"}], "models": {"m": ["p/x"]}},
    {"providers": [{"name": "p", "base_url": "http://h", "api_key": GROQ_KEY}],
     "models": {"m": ["p/x"]}},
    {"server": {"master_key": MASTER_KEY, "host": "0.0.0.0"},
     "providers": [{"name": "p", "base_url": "http://h", "api_key": [OPENROUTER_KEY]}],
     "models": {"m": ["p/x"]}},
])
def test_errors_never_echo_keys(data):
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, environ={"K": GROQ_KEY})
    exc = info.value
    _assert_clean(str(exc) + repr(exc) + "\n".join(exc.problems) + str(exc.to_openai_error()))


def test_yaml_error_does_not_echo_the_line(write_config):
    path = write_config(f"providers:\n  - api_key: \"{GROQ_KEY}\n  bad: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    _assert_clean(str(info.value))
