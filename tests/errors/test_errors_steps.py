"""Resolution steps are templates: filled with the finding's real host, port, file, variable
and model, in the user's shell (PowerShell, cmd, bash)."""

from __future__ import annotations

import re

import pytest

from provider_fallback.errors import (
    REGISTRY,
    ErrorSpec,
    Facts,
    Fault,
    ProviderFallbackError,
    Scope,
    Shell,
    Step,
    UpstreamError,
    render_steps,
    sh,
    spec,
)
from provider_fallback.errors._registry import SPECS
from provider_fallback.errors._steps import PLACEHOLDERS, template_names

SAMPLE = Facts.of(provider="litellm", model="groq-70b", base_url="http://127.0.0.1:4299/v1",
                  env_var="LITELLM_MASTER_KEY", config=r"C:\Users\pavel\gw\gateway.yaml",
                  env_file=r"C:\Users\pavel\gw\.env", gateway_url="http://127.0.0.1:4111",
                  pid="5120", litellm_config="proxy_config.yaml")
STAND_INS = [v for v in PLACEHOLDERS.values() if v.startswith("<")]


@pytest.mark.parametrize("row", SPECS, ids=lambda s: s.code)
def test_every_token_is_a_known_placeholder(row: ErrorSpec) -> None:
    for step in row.resolution:
        unknown = template_names(step) - set(PLACEHOLDERS)
        assert not unknown, f"{row.code}: unknown placeholder(s) {unknown} in {step!r}"


@pytest.mark.parametrize("shell", list(Shell))
@pytest.mark.parametrize("row", SPECS, ids=lambda s: s.code)
def test_every_row_renders_without_placeholders(row: ErrorSpec, shell: Shell) -> None:
    steps = row.steps(SAMPLE, shell)
    assert steps, f"{row.code} has no step for {shell}"
    for text in steps:
        left = [m for m in re.findall(r"\{([a-z_]+)\}", text) if m in PLACEHOLDERS]
        assert not left, f"{row.code}/{shell}: {left} left in {text!r}"
        assert not [s for s in STAND_INS if s in text], f"{row.code}/{shell}: {text!r}"


@pytest.mark.parametrize("row", SPECS, ids=lambda s: s.code)
def test_each_shell_gets_its_own_syntax(row: ErrorSpec) -> None:
    ps = " ".join(row.steps(SAMPLE, Shell.POWERSHELL))
    cmd = " ".join(row.steps(SAMPLE, Shell.CMD))
    bash = " ".join(row.steps(SAMPLE, Shell.BASH))
    bash_var = re.compile(r"(?<!env:)\$\{?LITELLM_MASTER_KEY")
    assert not bash_var.search(ps) and "export " not in ps and "%LITELLM" not in ps
    assert not bash_var.search(cmd) and "$env:" not in cmd and "export " not in cmd
    assert "$env:" not in bash and "%LITELLM" not in bash and "setx" not in bash
    # PowerShell 5.1's `curl` is Invoke-WebRequest, which takes no -H
    assert not re.search(r"`curl [^`]*-H", ps)


def test_the_issue_examples_name_the_real_host_port_and_file() -> None:
    dns = Facts.of(provider="openrouter", base_url="https://openrouter.ai/api/v1",
                   env_var="OPENROUTER_API_KEY")
    text = " ".join(spec("dns_failure").steps(dns, Shell.POWERSHELL))
    assert "Resolve-DnsName openrouter.ai" in text and "api.groq.com" not in text
    refused = Facts.of(provider="litellm", base_url="http://127.0.0.1:4299/v1")
    ps = " ".join(spec("connection_refused").steps(refused, Shell.POWERSHELL))
    assert "Get-NetTCPConnection -LocalPort 4299" in ps and "4000" not in ps.replace(
        "--port 4299", "")
    assert ":4299" in " ".join(spec("connection_refused").steps(refused, Shell.CMD))
    auth = Facts.of(provider="local", base_url="http://127.0.0.1:4204/v1", env_var="LOCAL_KEY")
    ps = " ".join(spec("invalid_api_key").steps(auth, Shell.POWERSHELL))
    assert 'Invoke-RestMethod http://127.0.0.1:4204/v1/models' in ps and "$env:LOCAL_KEY" in ps
    assert "api.groq.com/openai" not in ps and "$GROQ_API_KEY" not in ps
    bash = " ".join(spec("invalid_api_key").steps(auth, Shell.BASH))
    assert 'curl http://127.0.0.1:4204/v1/models -H "Authorization: Bearer $LOCAL_KEY"' in bash
    missing = Facts.of(env_var="GROQ_API_KEY", env_file="/srv/gw/.env")
    assert "export GROQ_API_KEY=..." in " ".join(spec("env_var_missing").steps(missing, Shell.BASH))
    ps = " ".join(spec("env_var_missing").steps(missing, Shell.POWERSHELL))
    assert 'setx GROQ_API_KEY "..."' in ps and "/srv/gw/.env" in ps and "NAME" not in ps
    cfg = " ".join(spec("config_error").steps(Facts.of(config="gw.yaml"), Shell.BASH))
    assert "provider-fallback validate gw.yaml" in cfg


def test_unknown_values_show_a_stand_in_never_a_brace() -> None:
    text = " ".join(spec("connection_refused").steps(Facts(), Shell.BASH))
    assert "{" not in text and "<port>" in text


def test_suggested_port_skips_litellms_usual_port() -> None:
    assert "--port 4001" in " ".join(spec("address_in_use").steps(Facts.of(port=3999), Shell.BASH))
    assert "--port 4101" in " ".join(spec("address_in_use").steps(Facts.of(port=4100), Shell.BASH))


def test_a_plain_string_row_still_works() -> None:
    # other engineers add rows the old way: plain text is a template without placeholders
    row = ErrorSpec("plain_row", "gateway", Fault.GATEWAY, False, False, 0.0, Scope.NONE, False,
                    500, "A row written with plain strings.",
                    ("Do this first", "Then check {config}", 'Send {"model": "x"} as JSON'))
    for shell in Shell:
        assert row.steps(Facts.of(config="a.yaml"), shell) == (
            "Do this first", "Then check a.yaml", 'Send {"model": "x"} as JSON')


def test_step_falls_back_to_text_and_leaves_out_what_does_not_apply() -> None:
    step = sh(bash="", windows="ipconfig /flushdns")
    assert render_steps([step], shell=Shell.BASH) == ()
    assert render_steps([step], shell=Shell.CMD) == ("ipconfig /flushdns",)
    plain = Step("same {host} everywhere", powershell="ps {host}")
    assert plain.render(Facts(host="h"), Shell.CMD) == "same h everywhere"
    assert plain.render(Facts(host="h"), Shell.POWERSHELL) == "ps h"


def test_shell_parse_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Shell.parse("pwsh") is Shell.POWERSHELL and Shell.parse("ZSH") is Shell.BASH
    with pytest.raises(ValueError, match="powershell, cmd or bash"):
        Shell.parse("tcsh")
    monkeypatch.setenv("PROVIDER_FALLBACK_SHELL", "cmd")
    assert Shell.default() is Shell.CMD
    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.delenv("PROVIDER_FALLBACK_SHELL")
    assert Shell.default() is Shell.POWERSHELL


def test_errors_render_with_what_they_know_and_what_the_gateway_adds() -> None:
    from provider_fallback.errors import Failure

    exc = UpstreamError(Failure(REGISTRY["model_not_found"], provider="groq", model="llama-x"))
    text = " ".join(exc.resolution)
    assert "llama-x" in text and "groq/llama-x" in text
    body = exc.to_openai_error(Facts.of(base_url="https://api.groq.com/openai/v1",
                                        env_var="GROQ_API_KEY", config="gw.yaml"),
                               Shell.BASH)["error"]
    joined = " ".join(body["resolution"])
    assert "curl -s https://api.groq.com/openai/v1/models" in joined and "gw.yaml" in joined
    # the error's own facts win over what the caller adds
    assert "groq/llama-x" in joined
    plain = ProviderFallbackError("x", resolution=("step one",))
    assert plain.resolution == ("step one",)


def test_a_provider_without_a_key_gets_no_authorization_header() -> None:
    keyless = Facts.of(provider="ollama", base_url="http://127.0.0.1:11434/v1", model="qwen")
    for shell in Shell:
        text = " ".join(spec("model_not_found").steps(keyless, shell))
        assert "Authorization" not in text and "http://127.0.0.1:11434/v1/models" in text
    keyed = Facts.of(provider="groq", base_url="https://api.groq.com/openai/v1",
                     env_var="GROQ_API_KEY")
    assert '-Headers @{ Authorization = "Bearer $env:GROQ_API_KEY" }' in " ".join(
        spec("model_not_found").steps(keyed, Shell.POWERSHELL))
    assert '-H "Authorization: Bearer %GROQ_API_KEY%"' in " ".join(
        spec("model_not_found").steps(keyed, Shell.CMD))
