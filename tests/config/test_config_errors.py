"""Every config problem is a ConfigError naming the file, the key path and the fix."""

from __future__ import annotations

from typing import Any

import pytest
from config_samples import FULL_ENV, FULL_YAML, GROQ_KEY

from provider_fallback.config import check_bind, config_from_dict, load_config
from provider_fallback.errors._exceptions import ConfigError


def _base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"providers": [{"name": "groq", "base_url": "https://g/v1"},
                                          {"name": "litellm", "base_url": "http://l/v1"}],
                            "models": {"m": ["groq/x"]}}
    data.update(extra)
    return data


def _error(data: dict[str, Any], **kwargs: Any) -> ConfigError:
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, source="cfg.yaml", **kwargs)
    return info.value


def test_missing_variable_names_variable_path_and_fix(write_config):
    env = dict(FULL_ENV)
    del env["GROQ_API_KEY"]
    path = write_config(FULL_YAML)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=env)
    exc = info.value
    text = str(exc)
    assert "GROQ_API_KEY" in text and "providers[0].api_key" in text
    assert f"export GROQ_API_KEY=... or add it to {path.parent / '.env'}" in text
    assert "optional: true" in text
    assert exc.key == "providers[0].api_key" and exc.file == str(path)
    assert exc.problems == [text.split(": ", 1)[1]]


def test_empty_key_variable_is_an_error():
    exc = _error(_base(providers=[{"name": "groq", "base_url": "https://g/v1",
                                   "api_key": "os.environ/K"}]), environ={"K": ""})
    assert "K is empty" in str(exc)


def test_missing_variable_in_server():
    exc = _error(_base(server={"master_key": "${MASTER}"}))
    assert "MASTER" in str(exc) and "server.master_key" in str(exc)
    assert "optional" not in str(exc)


def test_optional_provider_leaving_chain_empty():
    data = _base(providers=[{"name": "groq", "base_url": "https://g/v1",
                             "api_key": "os.environ/GROQ_API_KEY", "optional": True},
                            {"name": "local", "base_url": "http://l"}],
                 models={"only-groq": ["groq/x"], "ok": ["local/y"]})
    exc = _error(data)
    assert "models.only-groq" in str(exc) and "GROQ_API_KEY" in str(exc)


def test_literal_secret_refused():
    exc = _error(_base(providers=[{"name": "groq", "base_url": "https://g/v1",
                                   "api_key": GROQ_KEY}]))
    assert "providers[0].api_key" in str(exc)
    assert "os.environ/NAME" in str(exc)
    assert GROQ_KEY not in str(exc) and GROQ_KEY[4:16] not in str(exc)


@pytest.mark.parametrize("where", ["header", "long_key", "master"])
def test_other_literal_secrets_refused(where):
    if where == "header":
        data = _base(providers=[{"name": "groq", "base_url": "https://g/v1",
                                 "headers": {"Authorization": "Bearer sk-ant-api03-abcdefghijklmnop"}}])
        key = "providers[0].headers.Authorization"
    elif where == "long_key":
        data = _base(providers=[{"name": "groq", "base_url": "https://g/v1",
                                 "api_key": "a-long-plain-key-with-no-prefix-123"}])
        key = "providers[0].api_key"
    else:
        data = _base(server={"master_key": "a-long-literal-master-key-value"})
        key = "server.master_key"
    exc = _error(data)
    assert key in str(exc) and "literal secret" in str(exc)


def test_unknown_key_suggests_spelling():
    exc = _error(_base(providers=[{"name": "groq", "base_url": "https://g/v1", "tiemout": 5}]))
    assert "providers[0]: unknown key 'tiemout'; did you mean 'timeout'?" in str(exc)


@pytest.mark.parametrize(("data", "expected"), [
    ({"polcy": {}}, "unknown top-level key 'polcy'; did you mean 'policy'?"),
    ({"policy": {"max_retires": 2}}, "policy: unknown key 'max_retires'; did you mean 'max_retries'?"),
    ({"server": {"prot": 1}}, "server: unknown key 'prot'; did you mean 'port'?"),
    ({"models": {"m": [{"provider": "groq", "model": "x", "contxt": 5}]}},
     "models.m[0]: unknown key 'contxt'; did you mean 'context'?"),
    ({"providers": [{"name": "groq", "base_url": "https://g", "policy": {"stal_timeout": 1}}]},
     "providers[0].policy: unknown key 'stal_timeout'; did you mean 'stall_timeout'?"),
])
def test_unknown_keys_everywhere(data, expected):
    assert expected in str(_error(_base(**data)))


def test_unknown_provider_in_chain_lists_known():
    exc = _error(_base(models={"groq-70b": ["groq/x", {"provider": "grok", "model": "y"}]}))
    text = str(exc)
    assert "models.groq-70b[1].provider" in text
    assert "unknown provider 'grok'; did you mean 'groq'?" in text
    assert "known providers: groq, litellm" in text


def test_duplicate_provider_names():
    exc = _error(_base(providers=[{"name": "groq", "base_url": "https://g/v1"},
                                  {"name": "groq", "base_url": "https://h/v1"}]))
    assert "providers[1].name" in str(exc) and "duplicate provider name 'groq'" in str(exc)


@pytest.mark.parametrize("chain", [[], None])
def test_empty_chain(chain):
    exc = _error(_base(models={"m": chain}))
    assert "models.m: the chain is empty" in str(exc)


@pytest.mark.parametrize("url", ["ftp://x", "api.groq.com/v1", "", "https://"])
def test_base_url_must_be_http(url):
    exc = _error(_base(providers=[{"name": "groq", "base_url": url}]))
    assert "providers[0].base_url" in str(exc) and "http(s) URL" in str(exc)


def test_target_without_slash():
    exc = _error(_base(models={"m": ["groq-only"]}))
    assert "models.m[0]" in str(exc) and "provider/model" in str(exc)


def test_bad_provider_name():
    assert "providers[0].name" in str(_error(_base(providers=[{"name": "a/b",
                                                                "base_url": "http://h"}])))


def test_missing_required_keys():
    exc = _error({"providers": [{"name": "p"}], "models": {"m": ["p/x"]}})
    assert "providers[0]: missing required key 'base_url'" in str(exc)
    assert "missing required key 'providers'" in str(_error({"models": {}}))


def test_wrong_type_is_reported_with_path():
    exc = _error(_base(server={"port": "many"}))
    assert "server.port" in str(exc) and "integer" in str(exc)


def test_shorthand_and_policy_conflict():
    exc = _error(_base(providers=[{"name": "groq", "base_url": "https://g", "timeout": 5,
                                   "policy": {"timeout": 6}}]))
    assert "providers[0].timeout" in str(exc)


def test_unknown_cooldown_code():
    exc = _error(_base(policy={"cooldowns": {"rate_limt": 5}}))
    assert "policy.cooldowns.rate_limt" in str(exc) and "did you mean 'rate_limit'" in str(exc)


def test_non_loopback_host_without_master_key():
    exc = _error(_base(server={"host": "0.0.0.0"}))
    assert "server.master_key" in str(exc)
    assert "master_key: os.environ/PROVIDER_FALLBACK_MASTER_KEY" in str(exc)
    assert "export PROVIDER_FALLBACK_MASTER_KEY" in str(exc)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_check_bind_loopback_ok(host):
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.com", ""])
def test_check_bind_refuses_exposed_host(host):
    with pytest.raises(ConfigError, match="PROVIDER_FALLBACK_MASTER_KEY"):
        check_bind(host, None)
    check_bind(host, "a-master-key-of-24-chars")


def test_yaml_syntax_error_names_line(write_config):
    path = write_config("providers:\n  - name: p\n    base_url: [unclosed\nmodels: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(path) in str(info.value) and "line 4" in str(info.value)


def test_yaml_duplicate_key_names_line(write_config):
    path = write_config("policy:\n  timeout: 5\n  timeout: 6\nproviders: []\n")
    with pytest.raises(ConfigError, match=r"line 3.*duplicate key 'timeout'"):
        load_config(path, environ={})


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["", "- just\n- a list\n"])
def test_empty_or_non_mapping_file(write_config, text):
    with pytest.raises(ConfigError):
        load_config(write_config(text), environ={})


def test_all_problems_reported_together():
    data = {
        "server": {"host": "0.0.0.0", "prot": 1},
        "policy": {"timeout": "soon"},
        "providers": [{"name": "groq", "base_url": "ftp://g", "api_key": "os.environ/NOPE"},
                      {"name": "litellm", "base_url": "http://l", "tiemout": 1}],
        "models": {"a": ["grok/x"], "b": []},
    }
    # groq is invalid (bad base_url) but still counts as known for the suggestion
    exc = _error(data)
    problems = exc.problems
    expected = ["server: unknown key 'prot'", "server.master_key", "policy.timeout", "providers[0].base_url",
                "NOPE", "providers[1]: unknown key 'tiemout'", "models.a[0].provider",
                "models.b: the chain is empty"]
    for fragment in expected:
        assert any(fragment in p for p in problems), fragment
        assert fragment in exc.message
    assert len(exc.message.splitlines()) == len(problems) + 1
    assert exc.message.startswith(f"cfg.yaml: {len(problems)} problems:")
    assert "did you mean 'groq'?" in exc.message
