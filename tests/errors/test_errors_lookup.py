"""`errors` finds codes by the names users meet: the runbook's, HTTP statuses, errno names,
Windows socket errors; "did you mean" for the rest."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from provider_fallback.cli import app
from provider_fallback.errors import REGISTRY
from provider_fallback.errors._lookup import SEED_NAMES, find_codes

runner = CliRunner()


@pytest.mark.parametrize(("query", "code", "how"), [
    ("groq-rate-limit", "rate_limit", "runbook name"),
    ("litellm-port-in-use", "address_in_use", "runbook name"),
    ("groq-invalid-model", "model_not_found", "runbook name"),
    ("ECONNREFUSED", "connection_refused", "errno"),
    ("econnreset", "connection_reset", "errno"),
    ("ENOTFOUND", "dns_failure", "errno"),
    ("EAI_AGAIN", "dns_temporary", "errno"),
    ("WSAECONNREFUSED", "connection_refused", "errno"),
    ("10013", "access_denied_socket", "Windows socket error"),
    ("WinError 10061", "connection_refused", "Windows socket error"),
    ("[WinError 10048]", "address_in_use", "Windows socket error"),
    ("11001", "dns_failure", "Windows socket error"),
    ("rate-limit-rpm", "rate_limit_rpm", "code"),
])
def test_one_code_by_any_name(query: str, code: str, how: str) -> None:
    found = find_codes(query)
    assert found.codes == (code,) and found.how == how


def test_every_runbook_name_points_at_a_real_code() -> None:
    assert set(SEED_NAMES.values()) <= set(REGISTRY)


def test_http_status_lists_every_code_for_it() -> None:
    found = find_codes("429")
    assert found.how == "HTTP status"
    assert {"rate_limit", "rate_limit_rpm", "rate_limit_rpd", "rate_limit_tpm",
            "rate_limit_tpd", "queue_full"} <= set(found.codes)
    assert found.codes[0] == "rate_limit"         # what an upstream 429 is classified as
    assert "model_not_found" in find_codes("404").codes


def test_did_you_mean() -> None:
    assert find_codes("ratelimit").codes == ()
    assert "rate_limit" in find_codes("ratelimit").suggestions
    assert "connection_refused" in find_codes("conection_refused").suggestions


def test_the_cli_explains_lists_and_suggests() -> None:
    res = runner.invoke(app, ["errors", "groq-rate-limit"])
    assert res.exit_code == 0 and "rate_limit" in res.output and "429" in res.output
    res = runner.invoke(app, ["errors", "429"])
    assert res.exit_code == 0 and "rate_limit_tpd" in res.output and "queue_full" in res.output
    res = runner.invoke(app, ["errors", "10013", "--shell", "powershell"])
    assert res.exit_code == 0 and "access_denied_socket" in res.output
    assert "netsh int ipv4 show excludedportrange" in res.output
    res = runner.invoke(app, ["errors", "ratelimit"])
    assert res.exit_code == 1 and "did you mean: rate_limit" in res.output
    res = runner.invoke(app, ["errors", "x", "--shell", "tcsh"])
    assert res.exit_code == 2


def test_the_cli_fills_steps_from_a_config(tmp_path) -> None:
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("providers:\n  - {name: litellm, base_url: 'http://127.0.0.1:4299/v1', "
                   "api_key: os.environ/LITELLM_MASTER_KEY}\nmodels: {chat: [litellm/m]}\n",
                   encoding="utf-8")
    (tmp_path / ".env").write_text("LITELLM_MASTER_KEY=sk-1234\n", encoding="utf-8")
    res = runner.invoke(app, ["errors", "ECONNREFUSED", "-c", str(cfg), "-p", "litellm",
                              "--shell", "powershell"])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "Get-NetTCPConnection -LocalPort 4299" in flat and "127.0.0.1:4299" in flat
    res = runner.invoke(app, ["errors", "invalid_api_key", "-c", str(cfg), "-p", "litellm",
                              "--shell", "bash"])
    assert "$LITELLM_MASTER_KEY" in res.output and "sk-1234" not in res.output
    res = runner.invoke(app, ["errors", "invalid_api_key", "-c", str(cfg), "-p", "nope"])
    assert res.exit_code == 1 and "litellm" in res.output
