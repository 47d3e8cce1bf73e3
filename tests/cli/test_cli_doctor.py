"""`doctor`, `check --min-healthy` and `serve --strict` as a user runs them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ports import free_port
from typer.testing import CliRunner

from provider_fallback.cli import app
from provider_fallback.sim import SimProvider, run_in_thread

runner = CliRunner()
KEY = "gsk_clitest_VERYSECRETBITS_123456789"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                 "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="module")
def sims():
    up = SimProvider("up", models=["m1", "m2"], api_key=KEY)
    also = SimProvider("also", models=["m1"])
    thread = run_in_thread(up, also)
    yield up, also
    thread.stop()


def _write(tmp_path: Path, sims, *, model: str = "m1", dead: bool = False) -> Path:
    up, also = sims
    providers = [{"name": "up", "base_url": up.url, "api_key": "os.environ/UP_KEY"},
                 {"name": "also", "base_url": also.url}]
    chain = [f"up/{model}", "also/m1"]
    if dead:
        providers.append({"name": "dead", "base_url": f"http://127.0.0.1:{free_port()}/v1"})
        chain.append("dead/m1")
    path = tmp_path / "provider_config.yaml"
    path.write_text(yaml.safe_dump({"server": {"port": free_port()}, "providers": providers,
                                    "models": {"alias": chain}}))
    return path


def test_doctor_all_good_exit_0(tmp_path, sims, monkeypatch):
    monkeypatch.setenv("UP_KEY", KEY)
    res = runner.invoke(app, ["doctor", "--config", str(_write(tmp_path, sims)), "-v"])
    assert res.exit_code == 0, res.output
    assert "0 warnings, 0 errors" in res.output
    assert "VERYSECRET" not in res.output


def test_doctor_text_table_has_codes_and_fixes_but_never_the_key(tmp_path, sims, monkeypatch):
    wrong = "gsk_clitest_WRONGWRONGWRONG_9876543"
    monkeypatch.setenv("UP_KEY", wrong)
    res = runner.invoke(app, ["doctor", "--config", str(_write(tmp_path, sims, dead=True))])
    assert res.exit_code == 2
    out = res.output
    assert "invalid_api_key" in out and "connection_refused" in out
    assert "UP_KEY" in out and "1." in out            # which key, and numbered fixes
    assert "WRONGWRONG" not in out and wrong[:8] not in out


def test_doctor_json_warning_exit_1(tmp_path, sims, monkeypatch):
    monkeypatch.setenv("UP_KEY", KEY)
    path = _write(tmp_path, sims)
    res = runner.invoke(app, ["doctor", "--config", str(path), "--json", "--slow", "0"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)
    assert data["exit_code"] == 1 and data["summary"]["warning"] >= 1
    assert {f["code"] for f in data["findings"] if f["severity"] == "warning"} == {"slow_provider"}
    assert all(f["resolution"] for f in data["findings"] if f["severity"] != "ok")
    assert KEY[:8] not in res.output


def test_doctor_missing_model_json(tmp_path, sims, monkeypatch):
    monkeypatch.setenv("UP_KEY", KEY)
    res = runner.invoke(app, ["doctor", "-c", str(_write(tmp_path, sims, model="m3")), "--json"])
    assert res.exit_code == 2
    [f] = [f for f in json.loads(res.stdout)["findings"] if f["code"] == "model_not_found"]
    assert set(f["detail"]["nearest"]) >= {"m1", "m2"}


def test_check_min_healthy(tmp_path, sims, monkeypatch):
    monkeypatch.setenv("UP_KEY", KEY)
    path = _write(tmp_path, sims, dead=True)
    res = runner.invoke(app, ["check", "-c", str(path), "--min-healthy", "2"])
    assert res.exit_code == 0, res.output
    assert "2 of 3 providers healthy" in res.output
    res = runner.invoke(app, ["check", "-c", str(path), "--min-healthy", "3"])
    assert res.exit_code == 1
    assert "not_enough_healthy" in res.output and "connection_refused" in res.output


def test_check_counts_a_rejected_key_as_down(tmp_path, sims, monkeypatch):
    monkeypatch.setenv("UP_KEY", "gsk_wrong_0000000000000000")
    res = runner.invoke(app, ["check", "-c", str(_write(tmp_path, sims)), "--min-healthy", "2",
                              "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["healthy"] == ["also"]
    assert "not_enough_healthy" in res.stderr


def test_check_invalid_config_exit_2(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("providers: 3\n")
    res = runner.invoke(app, ["check", "-c", str(bad)])
    assert res.exit_code == 2 and "config_error" in res.output


def test_serve_strict_refuses_on_startup_problem(tmp_path, sims, monkeypatch):
    monkeypatch.setenv("UP_KEY", f"  {KEY}\n")
    path = _write(tmp_path, sims)
    res = runner.invoke(app, ["serve", "--config", str(path), "--strict"])
    assert res.exit_code == 2
    assert "key_malformed" in res.output and "--strict" in res.output
    assert "VERYSECRET" not in res.output


def test_serve_without_strict_logs_one_line_per_problem(tmp_path, sims, monkeypatch):
    monkeypatch.setenv("UP_KEY", f'"{KEY}"')
    path = _write(tmp_path, sims)
    with socket.socket() as held:   # the port is busy: serve logs its startup lines, then stops
        held.bind(("127.0.0.1", 0))
        held.listen()
        proc = subprocess.run([sys.executable, "-m", "provider_fallback", "serve", "-c", str(path),
                               "--port", str(held.getsockname()[1])],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "address_in_use" in proc.stderr
    assert "[key_malformed]" in proc.stderr and "quotes" in proc.stderr
    assert "VERYSECRET" not in proc.stderr + proc.stdout
