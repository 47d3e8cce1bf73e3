"""import-litellm round-trips a realistic LiteLLM proxy config into one our loader accepts."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from provider_fallback import load_config
from provider_fallback.cli import app
from provider_fallback.setup._litellm import COOLDOWN_CODES, convert_litellm

runner = CliRunner()

LITELLM = """
model_list:
  - model_name: groq-70b
    litellm_params:
      model: groq/llama-3.3-70b-versatile
      api_key: os.environ/GROQ_API_KEY
      rpm: 30
      tpm: 12000
      timeout: 30
    model_info:
      max_input_tokens: 131072
  - model_name: groq-70b                      # a second deployment of the same group
    litellm_params:
      model: openrouter/meta-llama/llama-3.3-70b-instruct
      api_key: os.environ/OPENROUTER_API_KEY
      order: 2
  - model_name: groq-8b
    litellm_params:
      model: groq/llama-3.1-8b-instant
      api_key: os.environ/GROQ_API_KEY
      rpm: 30
      tpm: 6000
  - model_name: big-context
    litellm_params:
      model: openrouter/google/gemini-2.0-flash-001
      api_key: os.environ/OPENROUTER_API_KEY
    model_info: {max_input_tokens: 1000000}
  - model_name: free
    litellm_params:
      model: openrouter/minimax/minimax-m2.1:free
      api_key: os.environ/OPENROUTER_API_KEY
      drop_params: true
  - model_name: local
    litellm_params:
      model: openai/qwen2.5
      api_base: http://localhost:8000/v1
      api_key: sk-local-literal-key-0123456789abcdef
      stream_timeout: 20
  - model_name: claude
    litellm_params:
      model: anthropic/claude-3-5-sonnet
      api_key: os.environ/ANTHROPIC_API_KEY

router_settings:
  routing_strategy: simple-shuffle
  num_retries: 2
  allowed_fails: 3
  cooldown_time: 45
  timeout: 60
  redis_host: localhost
  fallbacks:
    - groq-70b: [groq-8b]
    - groq-8b: [free]
  context_window_fallbacks:
    - groq-70b: [big-context]
  content_policy_fallbacks:
    - groq-8b: [local]

litellm_settings:
  drop_params: true
  default_fallbacks: [free]
  success_callback: [langfuse]
  fallbacks:
    - groq-70b: [groq-8b, free]
    - groq-8b: [free]

general_settings:
  master_key: sk-local-dev-1234
  database_url: os.environ/DATABASE_URL
"""
ENV = {"GROQ_API_KEY": "gsk_x", "OPENROUTER_API_KEY": "sk-or-x",
       "OPENAI_LOCALHOST_API_KEY": "x", "PROVIDER_FALLBACK_MASTER_KEY": "m"}


def _import(tmp_path):
    src = tmp_path / "proxy_config.yaml"
    src.write_text(LITELLM)
    res = runner.invoke(app, ["import-litellm", str(src)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "provider_config.yaml"
    out.write_text(res.stdout)
    return res, out


def test_round_trip_loads_with_the_expected_chains(tmp_path):
    res, out = _import(tmp_path)
    cfg = load_config(out, environ=ENV)
    keys = {alias: [t.key for t in chain.targets] for alias, chain in cfg.chains.items()}
    assert keys["groq-70b"] == [
        "groq/llama-3.3-70b-versatile", "openrouter/meta-llama/llama-3.3-70b-instruct",
        "groq/llama-3.1-8b-instant", "openrouter/minimax/minimax-m2.1:free",
        "openrouter/google/gemini-2.0-flash-001"]
    assert keys["groq-8b"] == ["groq/llama-3.1-8b-instant", "openrouter/minimax/minimax-m2.1:free",
                               "openai-localhost/qwen2.5"]
    # default_fallbacks apply to groups without their own fallbacks
    assert keys["big-context"] == ["openrouter/google/gemini-2.0-flash-001",
                                   "openrouter/minimax/minimax-m2.1:free"]
    assert "claude" not in keys
    first = cfg.chains["groq-70b"].targets[0]
    assert first.limits is not None and (first.limits.rpm, first.limits.tpm) == (30, 12000)
    assert first.context == 131072 and first.policy.timeout == 30
    assert cfg.chains["groq-70b"].targets[-1].context == 1_000_000
    assert cfg.chains["groq-8b"].targets[0].policy.content_policy_fallback is True
    assert cfg.chains["local"].targets[0].policy.ttft_timeout == 20
    assert cfg.policy.max_retries == 2 and cfg.policy.timeout == 60
    assert cfg.policy.cooldowns["rate_limit"] == 45 and cfg.circuit.failure_threshold == 3
    assert cfg.providers["groq"].api_key_source == "os.environ/GROQ_API_KEY"
    assert cfg.providers["openai-localhost"].base_url == "http://localhost:8000/v1"


def test_literal_keys_are_refused_and_reported(tmp_path):
    res, out = _import(tmp_path)
    text = out.read_text()
    assert "sk-local-dev-1234" not in text and "sk-local-literal" not in res.output
    assert "sk-local-dev-1234" not in res.output
    data = yaml.safe_load(text)
    assert data["server"]["master_key"] == "os.environ/PROVIDER_FALLBACK_MASTER_KEY"
    assert "[literal_secret] general_settings.master_key" in res.stderr
    assert "[literal_secret] model_list[5].litellm_params.api_key" in res.stderr


def test_unmapped_settings_are_reported(tmp_path):
    res, _ = _import(tmp_path)
    for where in ("router_settings.routing_strategy", "router_settings.redis_host",
                  "litellm_settings.success_callback", "litellm_settings.drop_params",
                  "general_settings.database_url", "model_list[4].litellm_params.drop_params",
                  "model_list[6].litellm_params.model"):
        assert f"[litellm_setting_unmapped] {where}" in res.stderr, where
    assert "GROQ_API_KEY" in res.stderr   # what to set before serving


def test_env_references_are_kept_as_references():
    result = convert_litellm(yaml.safe_load(LITELLM))
    keys = {p["name"]: p.get("api_key") for p in result.config["providers"]}
    assert keys["groq"] == "os.environ/GROQ_API_KEY"
    assert keys["openrouter"] == "os.environ/OPENROUTER_API_KEY"
    assert set(result.config["policy"]["cooldowns"]) == set(COOLDOWN_CODES)


def test_fallback_to_unknown_group_is_reported():
    data = {"model_list": [{"model_name": "a", "litellm_params": {"model": "groq/x"}}],
            "router_settings": {"fallbacks": [{"a": ["nope"]}]}}
    result = convert_litellm(data)
    assert result.config["models"] == {"a": ["groq/x"]}
    assert any(n.code == "config_error" and "nope" in n.message for n in result.notes)


def test_not_a_litellm_file(tmp_path):
    src = tmp_path / "x.yaml"
    src.write_text("providers: []\n")
    res = runner.invoke(app, ["import-litellm", str(src)])
    assert res.exit_code == 1 and "litellm_no_models" in res.output
    src.write_text("model_list: [\n")
    res = runner.invoke(app, ["import-litellm", str(src)])
    assert res.exit_code == 1 and "litellm_config_error" in res.output


def test_output_option_writes_a_file(tmp_path):
    src = tmp_path / "proxy_config.yaml"
    src.write_text(LITELLM)
    out = tmp_path / "out.yaml"
    res = runner.invoke(app, ["import-litellm", str(src), "-o", str(out)])
    assert res.exit_code == 0 and res.stdout == ""
    assert load_config(out, environ=ENV).chains["free"]


LOCAL_AND_SHARED = """
model_list:
  - model_name: fast
    litellm_params: {model: groq/llama-3.1-8b-instant, api_key: os.environ/GROQ_API_KEY,
                     rpm: 30, tpm: 6000}
  - model_name: smart
    litellm_params: {model: groq/llama-3.3-70b-versatile, api_key: os.environ/GROQ_API_KEY,
                     rpm: 30}
  - model_name: local
    litellm_params: {model: ollama/qwen2.5-coder, api_base: "http://localhost:11434",
                     api_key: "ollama"}
  - model_name: proxy
    litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:4000/v1",
                     api_key: "sk-1234"}
router_settings:
  fallbacks: [{smart: [fast, local]}, {proxy: [fast]}]
"""


def test_import_writes_plain_yaml_no_placeholder_keys_and_an_env_example(tmp_path):
    src = tmp_path / "proxy_config.yaml"
    src.write_text(LOCAL_AND_SHARED, encoding="utf-8")
    out = tmp_path / "provider_config.yaml"
    res = runner.invoke(app, ["import-litellm", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    assert "&id" not in text and "*id" not in text          # no YAML anchors/aliases
    data = yaml.safe_load(text)
    by_name = {p["name"]: p for p in data["providers"]}
    local = [p for p in data["providers"] if "11434" in p["base_url"]]
    assert local and "api_key" not in local[0]               # Ollama's "ollama" is no key
    proxy = [p for p in data["providers"] if ":4000" in p["base_url"]]
    assert proxy and "api_key" not in proxy[0]               # "sk-1234" on localhost too
    assert by_name["groq"]["api_key"] == "os.environ/GROQ_API_KEY"
    env_example = tmp_path / ".env.example"
    assert env_example.read_text(encoding="utf-8").splitlines()[-1] == "GROQ_API_KEY="
    assert "OLLAMA" not in env_example.read_text(encoding="utf-8")
    assert "(see .env.example)" in text
    assert load_config(out, environ={"GROQ_API_KEY": "gsk_x"}).chains["smart"]
    # never overwritten without --force
    out.write_text("# mine\n", encoding="utf-8")
    res = runner.invoke(app, ["import-litellm", str(src), "-o", str(out)])
    assert res.exit_code == 1 and "--force" in res.output
    assert out.read_text(encoding="utf-8") == "# mine\n"
    res = runner.invoke(app, ["import-litellm", str(src), "-o", str(out), "--force"])
    assert res.exit_code == 0 and "&id" not in out.read_text(encoding="utf-8")


def test_import_to_stdout_names_no_file_it_did_not_write(tmp_path, monkeypatch):
    src = tmp_path / "proxy_config.yaml"
    src.write_text(LOCAL_AND_SHARED, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["import-litellm", str(src)])
    assert res.exit_code == 0
    assert "(see .env.example)" not in res.output and "-o FILE" in res.output
    assert not (tmp_path / ".env.example").exists()


def test_a_real_looking_local_key_is_still_never_copied():
    result = convert_litellm(yaml.safe_load(LITELLM))
    local = [p for p in result.config["providers"] if "8000" in p["base_url"]]
    assert local[0]["api_key"].startswith("os.environ/")
