"""The CLI as a user runs it: real subprocesses where ports and exits matter."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from provider_fallback.cli import app
from provider_fallback.cli._errors import registry_markdown

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]

GOOD = """
providers:
  - name: groq
    base_url: https://api.groq.com/openai/v1
    api_key: os.environ/GROQ_API_KEY
  - name: openrouter
    base_url: https://openrouter.ai/api/v1
    api_key: os.environ/OPENROUTER_API_KEY
models:
  groq-70b:
    - groq/llama-3.3-70b-versatile
    - openrouter/minimax/minimax-m2.1:free
"""


def test_validate_prints_chains_and_never_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk_verysecretvalue_123456789")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-othersecret-987654321")
    f = tmp_path / "provider_config.yaml"
    f.write_text(GOOD)
    res = runner.invoke(app, ["validate", str(f)])
    assert res.exit_code == 0, res.output
    assert "groq/llama-3.3-70b-versatile" in res.output
    assert "minimax/minimax-m2.1:free" in res.output
    assert "verysecret" not in res.output and "othersecret" not in res.output


def test_validate_reports_missing_env_and_typos(tmp_path, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    monkeypatch.setenv("OPENROUTER_API_KEY", "x")
    f = tmp_path / "c.yaml"
    f.write_text(GOOD.replace("base_url: https://openrouter", "base_ur: https://openrouter"))
    res = runner.invoke(app, ["validate", str(f)])
    assert res.exit_code == 1
    out = res.output
    assert "GROQ_API_KEY" in out and "c.yaml" in out and "base_url" in out
    assert "Traceback" not in out


def test_errors_command_explains_a_code():
    res = runner.invoke(app, ["errors", "invalid_api_key"])
    assert res.exit_code == 0 and "401" in res.output
    res = runner.invoke(app, ["errors", "no_such_code"])
    assert res.exit_code == 1


def test_readme_registry_table_is_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- registry:start -->") + len("<!-- registry:start -->")
    end = readme.index("<!-- registry:end -->")
    assert readme[start:end].strip() == registry_markdown().strip(), \
        "README registry table is stale: regenerate with `provider-fallback errors --markdown`"


def test_serve_on_a_busy_port_names_the_error(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("providers:\n  - {name: a, base_url: 'http://127.0.0.1:9/v1'}\nmodels:\n  m: [a/x]\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "provider_fallback", "serve", "--config", str(f),
                               "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "address_in_use" in proc.stderr and "--port" in proc.stderr
    assert "Traceback" not in proc.stderr
    # the holder is named and the steps are filled in: this process holds the port
    if sys.platform.startswith("linux"):
        assert f"pid {os.getpid()}" in proc.stderr and f"kill {os.getpid()}" in proc.stderr
    assert f"--config {f}" in " ".join(proc.stderr.split())


def test_serve_refuses_public_host_without_master_key(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("providers:\n  - {name: a, base_url: 'http://127.0.0.1:9/v1'}\nmodels:\n  m: [a/x]\n")
    proc = subprocess.run([sys.executable, "-m", "provider_fallback", "serve", "--config", str(f),
                           "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "master_key" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_burst_falls_over_and_exits():
    proc = subprocess.run([sys.executable, "-m", "provider_fallback", "demo", "--no-wait",
                           "--requests", "5", "--port", "0"],
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # groq's headers said remaining=0 after 3 requests: the gateway skips it before any 429
    assert "rate_limit: capacity back in" in out and "connection_refused" in out
    assert "rate_limit_rpm" not in out
    assert out.count("answered by groq/") >= 3 and "answered by openrouter/" in out
