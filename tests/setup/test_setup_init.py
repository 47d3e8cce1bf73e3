"""`init` writes a config the real loader accepts, with env references and no secrets."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from provider_fallback import load_config
from provider_fallback.cli import app
from provider_fallback.setup import CATALOG, InitPlan, custom_provider, validate_plan, write_files

runner = CliRunner()
KEYS = {"GROQ_API_KEY": "gsk_init_SECRET_0123456789", "OPENROUTER_API_KEY": "sk-or-v1-SECRET-99",
        "LITELLM_MASTER_KEY": "sk-litellm-SECRET", "KILO_API_KEY": "kilo-SECRET",
        "GEMINI_API_KEY": "gemini-SECRET", "CEREBRAS_API_KEY": "csk-SECRET",
        "LMSTUDIO_API_KEY": "lm-SECRET", "VLLM_API_KEY": "vllm-SECRET"}


@pytest.fixture(autouse=True)
def _keys_in_env(monkeypatch):
    for name, value in KEYS.items():   # present, so a leak into the files would show
        monkeypatch.setenv(name, value)


def _texts(tmp_path):
    return (tmp_path / "provider_config.yaml").read_text() + (tmp_path / ".env.example").read_text()


def test_yes_defaults_validate_with_load_config(tmp_path):
    res = runner.invoke(app, ["init", "--yes", "--dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    cfg = load_config(tmp_path / "provider_config.yaml", environ=KEYS)
    assert set(cfg.providers) == {"groq", "openrouter"}
    assert [t.key for t in cfg.chains["groq-70b"].targets] == [
        "groq/llama-3.3-70b-versatile", "groq/llama-3.1-8b-instant",
        "openrouter/openrouter/free"]
    # a plan is always written: free where the provider has one
    assert {n: p.plan for n, p in cfg.providers.items()} == {"groq": "free", "openrouter": "free"}
    assert [t.key for t in cfg.chains["groq-compound"].targets][0] == "groq/groq/compound"
    env = (tmp_path / ".env.example").read_text()
    assert "GROQ_API_KEY=\n" in env and "OPENROUTER_API_KEY=\n" in env
    assert "SECRET" not in _texts(tmp_path)
    assert "os.environ/GROQ_API_KEY" in (tmp_path / "provider_config.yaml").read_text()


def test_every_provider_and_a_custom_url(tmp_path):
    args = ["init", "--yes", "--dir", str(tmp_path), "--custom", "vllm=http://localhost:8000/v1",
            "--custom-model", "qwen2.5"]
    for name in CATALOG:
        args += ["-p", name]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    cfg = load_config(tmp_path / "provider_config.yaml", environ=KEYS)
    assert set(cfg.providers) == {*CATALOG, "vllm"}
    keys = [t.key for t in cfg.chains["groq-70b"].targets]
    assert keys.index("groq/llama-3.3-70b-versatile") < keys.index("groq/llama-3.1-8b-instant") \
        < keys.index("kilo/kilo-auto/free") < keys.index("openrouter/openrouter/free")
    assert keys[-1] == "ollama/llama3.2"
    assert [t.key for t in cfg.chains["default"].targets] == [
        "lmstudio/openai/gpt-oss-20b", "gemini/gemini-2.5-flash", "cerebras/gpt-oss-120b",
        "vllm/qwen2.5"]
    assert cfg.providers["kilo"].base_url == "https://api.kilo.ai/api/openrouter"
    assert cfg.providers["litellm"].health_path == "/health/liveliness"
    assert cfg.providers["ollama"].api_key is None
    env = (tmp_path / ".env.example").read_text()
    for name in ("GROQ_API_KEY", "OPENROUTER_API_KEY", "LITELLM_MASTER_KEY", "KILO_API_KEY",
                 "GEMINI_API_KEY", "CEREBRAS_API_KEY", "VLLM_API_KEY"):
        assert f"\n{name}=\n" in env
    assert "SECRET" not in _texts(tmp_path)


def test_interactive(tmp_path):
    # groq yes, litellm yes (default URL), openrouter no, kilo no, ollama yes with a model,
    # one custom URL, then the port
    # groq yes on the developer plan, litellm yes (default URL and plan), openrouter no, kilo
    # no, ollama yes with a model, lmstudio/gemini/cerebras no, one custom URL, the port
    answers = "\n".join(["y", "developer", "y", "", "", "n", "n", "y", "", "qwen2.5:7b",
                         "n", "n", "n",
                         "y", "lmstudio", "http://127.0.0.1:1234/v1", "", "local-model",
                         "n", "4101"]) + "\n"
    res = runner.invoke(app, ["init", "--dir", str(tmp_path)], input=answers)
    assert res.exit_code == 0, res.output
    cfg = load_config(tmp_path / "provider_config.yaml", environ={**KEYS,
                                                                  "LMSTUDIO_API_KEY": "x"})
    assert set(cfg.providers) == {"groq", "litellm", "ollama", "lmstudio"}
    assert cfg.server.port == 4101
    assert [t.key for t in cfg.chains["groq-8b"].targets] == [
        "groq/llama-3.1-8b-instant", "litellm/groq-8b", "ollama/qwen2.5:7b"]
    assert [t.key for t in cfg.chains["default"].targets] == ["lmstudio/local-model"]
    assert (cfg.providers["groq"].plan, cfg.providers["litellm"].plan) == ("developer", "free")


def test_plan_option(tmp_path):
    res = runner.invoke(app, ["init", "--yes", "--dir", str(tmp_path), "-p", "groq",
                              "--plan", "groq=developer"])
    assert res.exit_code == 0, res.output
    cfg = load_config(tmp_path / "provider_config.yaml", environ=KEYS)
    assert cfg.providers["groq"].plan == "developer"
    res = runner.invoke(app, ["init", "--yes", "--dir", str(tmp_path), "--force", "-p", "groq",
                              "--plan", "groq=gold"])
    assert res.exit_code == 1 and "not one of free, developer" in res.output
    res = runner.invoke(app, ["init", "--yes", "--dir", str(tmp_path), "--force", "-p", "groq",
                              "--plan", "openrouter=free"])
    assert res.exit_code == 1 and "NAME=PLAN" in res.output


def test_refuses_to_overwrite_without_force(tmp_path):
    assert runner.invoke(app, ["init", "--yes", "--dir", str(tmp_path)]).exit_code == 0
    res = runner.invoke(app, ["init", "--yes", "--dir", str(tmp_path)])
    assert res.exit_code == 1 and "config_error" in res.output and "--force" in res.output
    assert runner.invoke(app, ["init", "--yes", "--dir", str(tmp_path), "--force",
                               "-p", "ollama"]).exit_code == 0
    assert "ollama" in (tmp_path / "provider_config.yaml").read_text()


def test_unknown_provider_and_bad_custom_are_clean_errors(tmp_path):
    res = runner.invoke(app, ["init", "--yes", "--dir", str(tmp_path), "-p", "grok"])
    assert res.exit_code == 1 and "unknown provider 'grok'" in res.output
    res = runner.invoke(app, ["init", "--yes", "--dir", str(tmp_path), "--custom", "x"])
    assert res.exit_code == 1 and "NAME=URL" in res.output


def test_invalid_custom_url_never_writes_files(tmp_path):
    plan = InitPlan(providers=[custom_provider("x", "ftp://nope", None, ["m"])])
    with pytest.raises(Exception) as err:
        write_files(plan, tmp_path)
    assert "base_url" in str(err.value)
    assert not (tmp_path / "provider_config.yaml").exists()


def test_plan_validates_and_yaml_has_no_literal_key():
    plan = InitPlan(providers=[CATALOG["groq"]])
    cfg = validate_plan(plan)
    assert cfg.providers["groq"].api_key_source == "os.environ/GROQ_API_KEY"
    from provider_fallback.setup import build_config, render_yaml
    data = yaml.safe_load(render_yaml(build_config(plan)))
    assert data["providers"][0]["api_key"] == "os.environ/GROQ_API_KEY"
