"""`provider-fallback budget` against a ledger file in a temp data dir."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from provider_fallback.budget import LIFTED_MONTH, SpendLedger, month_key
from provider_fallback.cli._budget import budget_app

runner = CliRunner()

# the other engineer registers budget_app in cli/__init__.py; mount it the same way here
app = typer.Typer()
app.add_typer(budget_app, name="budget")

CONFIG = """
providers:
  - name: groq
    base_url: https://api.groq.com/openai/v1
models:
  fast:
    - groq/llama-3.1-8b-instant
budget:
  monthly_usd: 2
  data_dir: {data_dir}
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROVIDER_FALLBACK_DATA_DIR", raising=False)
    data_dir = tmp_path / "data"
    path = tmp_path / "cfg.yaml"
    path.write_text(CONFIG.format(data_dir=data_dir))
    with SpendLedger(data_dir / "spend.sqlite3", writer=False) as ledger:
        ledger.record("groq", "llama-3.1-8b-instant", 1000, 500, 1.25)
        ledger.record("groq", "llama-3.3-70b-versatile", 2000, 100, 1.0)
    return path


def test_show_table(config):
    res = runner.invoke(app, ["budget", "--config", str(config)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "llama-3.1-8b-instant" in out and "llama-3.3-70b-versatile" in out
    assert "$2.2500" in out and "EXCEEDED" in out and "kill switch: ON" in out
    assert "projected month-end" in out


def test_show_json(config):
    res = runner.invoke(app, ["budget", "--config", str(config), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["budget"]["status"] == "EXCEEDED" and data["budget"]["kill_switch"] is True
    assert data["budget"]["spend_month_usd"] == pytest.approx(2.25)
    assert data["budget"]["monthly_limit_usd"] == 2
    assert {r["model"] for r in data["spend"]} == {"llama-3.1-8b-instant",
                                                   "llama-3.3-70b-versatile"}
    assert data["spend"][0]["requests"] == 1


def test_reset_then_show(config, tmp_path):
    res = runner.invoke(app, ["budget", "reset", "--config", str(config)])
    assert res.exit_code == 0, res.output
    assert "kill switch lifted" in res.output
    with SpendLedger(tmp_path / "data" / "spend.sqlite3", writer=False) as ledger:
        assert ledger.overrides()[LIFTED_MONTH] == month_key(__import__("time").time())
    data = json.loads(runner.invoke(app, ["budget", "--config", str(config), "--json"]).output)
    assert data["budget"]["kill_switch"] is False and data["budget"]["status"] == "EXCEEDED"


def test_allow_paid(config):
    res = runner.invoke(app, ["budget", "--config", str(config), "allow-paid", "--for", "1h"])
    assert res.exit_code == 0, res.output
    assert "paid targets allowed for 1h" in res.output
    data = json.loads(runner.invoke(app, ["budget", "-c", str(config), "--json"]).output)
    assert data["budget"]["kill_switch"] is False and data["budget"]["allow_paid_until"]
    res = runner.invoke(app, ["budget", "allow-paid", "--for", "0", "-c", str(config), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["budget"]["kill_switch"] is True


def test_allow_paid_rejects_a_bad_duration(config):
    res = runner.invoke(app, ["budget", "allow-paid", "--for", "soon", "-c", str(config)])
    assert res.exit_code == 1 and "bad_duration" in res.output and "Traceback" not in res.output


def test_data_dir_without_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)           # no ./provider_config.yaml here
    monkeypatch.setenv("PROVIDER_FALLBACK_DATA_DIR", str(tmp_path / "env"))
    res = runner.invoke(app, ["budget", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["spend"] == [] and data["budget"]["status"] == "OK"
    assert data["ledger"] == str(tmp_path / "env" / "spend.sqlite3")
    res = runner.invoke(app, ["budget", "--data-dir", str(tmp_path / "flag")])
    assert res.exit_code == 0 and "no spend recorded" in res.output


def test_bad_config_is_a_clean_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("budget:\n  monthly_usd: -1\n")
    res = runner.invoke(app, ["budget", "--config", str(bad)])
    assert res.exit_code == 1 and "Traceback" not in res.output
