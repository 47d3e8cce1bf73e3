"""The CLI as a first Windows user meets it: legacy code pages never crash it, PowerShell
5.1's UTF-16 files load, the .env beside the config is read, messages name files that
exist (or the command that creates them), rich markup never leaks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gateway_harness import CHAT, gateway_running, sims_running
from openai import AsyncOpenAI
from typer.testing import CliRunner

from provider_fallback import load_config
from provider_fallback.cli import app
from provider_fallback.sim import Fault
from provider_fallback.telemetry import DB_FILE, TelemetryStore
from provider_fallback.telemetry._events import Event

runner = CliRunner()

CONFIG = """# gateway config, written in PowerShell 5.1 — note the dash
server: {host: 127.0.0.1, port: 4123}
providers:
  - name: litellm
    base_url: http://127.0.0.1:9/v1
    api_key: os.environ/LITELLM_MASTER_KEY
models:
  chat: [litellm/groq-70b]
"""


def _store_with_a_fallback(log_dir: Path) -> None:
    store = TelemetryStore(log_dir / DB_FILE)
    store.write([Event(1, time.time() - 60, "FALLBACK",
                       {"alias": "chat", "from_target": "groq/llama", "to_target": "or/minimax",
                        "reason": "rate_limit", "from_provider": "groq"})], [])
    store.close()


# one process per code page runs every command, as `provider-fallback` would (main())
_DRIVER = """
import json, sys
from provider_fallback.cli import app, never_crash_output
never_crash_output()
for argv in json.loads(sys.argv[1]):
    code = 0
    try:
        app(argv, prog_name="provider-fallback")
    except SystemExit as exc:
        code = exc.code
    except BaseException as exc:
        code = repr(exc)
    sys.stdout.flush()
    print(f"@@ {argv[0]} exit {code}", file=sys.stderr, flush=True)
"""


@pytest.mark.parametrize("encoding", ["cp1252", "cp437", "ascii"])
def test_every_writer_survives_a_legacy_code_page(tmp_path: Path, encoding: str) -> None:
    # before: UnicodeEncodeError: 'charmap' codec can't encode character '\u2192'
    _store_with_a_fallback(tmp_path)
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG.replace("port: 4123", "port: 0"), encoding="utf-8")
    (tmp_path / ".env").write_text("LITELLM_MASTER_KEY=sk-1234\n", encoding="utf-8")
    litellm = tmp_path / "proxy_config.yaml"
    litellm.write_text("model_list:\n  - model_name: chat → fast\n    litellm_params:\n"
                       "      model: groq/llama-3.1-8b-instant\n", encoding="utf-8")
    out = tmp_path / "r.md"
    commands = [["report", "-o", "-", "--log-dir", str(tmp_path)],
                ["report", "-o", str(out), "--log-dir", str(tmp_path)],
                ["errors"], ["errors", "--markdown"], ["errors", "429"], ["errors", "10013"],
                ["--version"], ["--help"], ["events", "--log-dir", str(tmp_path)],
                ["validate", str(config)], ["import-litellm", str(litellm)],
                ["doctor", "--config", str(config), "--timeout", "0.5"]]
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    env.pop("PYTHONUTF8", None)
    res = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(commands)],
                         capture_output=True, timeout=180, env=env)
    err = res.stderr.decode(encoding, "replace")
    assert res.returncode == 0 and "Traceback" not in err and "UnicodeEncodeError" not in err, err
    exits = [line.split(" exit ")[1] for line in err.splitlines() if line.startswith("@@ ")]
    assert len(exits) == len(commands) and set(exits) <= {"0", "1", "2"}, err
    assert b"groq/llama ? or/minimax" in res.stdout
    assert "groq/llama → or/minimax" in out.read_text(encoding="utf-8")   # -o: always UTF-8


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_validate_reads_what_powershell_writes(tmp_path: Path, encoding: str) -> None:
    # PowerShell 5.1: `import-litellm proxy.yaml > provider_config.yaml` is UTF-16 LE + BOM
    config = tmp_path / "provider_config.yaml"
    config.write_bytes(CONFIG.encode(encoding))
    (tmp_path / ".env").write_bytes("LITELLM_MASTER_KEY=sk-1234\r\n".encode(encoding))
    res = runner.invoke(app, ["validate", str(config)])
    assert res.exit_code == 0, res.output
    assert "litellm/groq-70b" in res.output
    assert load_config(config).providers["litellm"].api_key.reveal() == "sk-1234"


def test_a_legacy_code_page_config_is_named_with_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_bytes(CONFIG.encode("cp1252", "replace").replace(b"?", b"\x97"))
    res = runner.invoke(app, ["validate", str(config)])
    assert res.exit_code == 1 and "UTF-8" in res.output and "Set-Content -Encoding utf8" in res.output


def test_a_missing_config_points_at_init(tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", str(tmp_path / "provider_config.yaml")])
    assert res.exit_code == 1
    assert "provider_config.example.yaml" not in res.output
    assert f"provider-fallback init --dir {tmp_path}" in " ".join(res.output.split())
    res = runner.invoke(app, ["validate", str(tmp_path / "gw.yaml")])
    assert "then use --config" in " ".join(res.output.split())


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("provider-fallback 0.")
    assert "Python 3." in res.output


async def test_status_and_providers_read_the_env_beside_the_config(tmp_path, monkeypatch):
    monkeypatch.delenv("PROVIDER_FALLBACK_MASTER_KEY", raising=False)
    monkeypatch.delenv("PF_ADMIN_KEY", raising=False)
    async with sims_running({"name": "primary", "models": ["m"]},
                            {"name": "backup", "models": ["m"]}) as (p, b):
        path = tmp_path / "gw.yaml"
        path.write_text(f"""
server: {{master_key: os.environ/PF_ADMIN_KEY}}
providers:
  - {{name: primary, base_url: '{p.url}'}}
  - {{name: backup, base_url: '{b.url}'}}
models:
  chat: [primary/m, backup/m]
health: {{enabled: false}}
telemetry: {{log_dir: '{tmp_path.as_posix()}'}}
""", encoding="utf-8")
        (tmp_path / ".env").write_text("PF_ADMIN_KEY=pf-dotenv-admin-key-42\n", encoding="utf-8")
        async with gateway_running(load_config(path)) as gw:
            client = AsyncOpenAI(base_url=gw.url, api_key="pf-dotenv-admin-key-42",
                                 max_retries=0)
            p.set_fault(Fault(status=503))
            await client.chat.completions.create(model="chat", **CHAT)
            await client.close()
            # before: the key in .env was not read, so status failed with unauthorized
            res = await asyncio.to_thread(runner.invoke, app, ["status", "--url", gw.base_url,
                                                               "-c", str(path)])
            assert res.exit_code == 0, res.output
            assert "[dim]" not in res.output and "[/]" not in res.output
            assert "event FALLBACK" in res.output
            assert "pf-dotenv-admin-key-42" not in res.output
            res = await asyncio.to_thread(runner.invoke, app, ["providers", "--url", gw.base_url,
                                                               "-c", str(path), "force", "backup"])
            assert res.exit_code == 0, res.output
            res = await asyncio.to_thread(runner.invoke, app, ["providers", "--url", gw.base_url,
                                                               "-c", str(path)])
            assert res.exit_code == 0 and "[forced]" in res.output   # not eaten as markup
            res = await asyncio.to_thread(runner.invoke, app, ["status", "--url", gw.base_url])
            assert res.exit_code == 1 and "PF_ADMIN_KEY" not in res.output
            assert "PROVIDER_FALLBACK_MASTER_KEY" in res.output


def test_events_read_the_config_even_without_the_provider_keys(tmp_path: Path,
                                                              monkeypatch) -> None:
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    logs = tmp_path / "logs"
    logs.mkdir()
    _store_with_a_fallback(logs)
    path = tmp_path / "gw.yaml"
    path.write_text(CONFIG + f"telemetry: {{log_dir: '{logs.as_posix()}'}}\n", encoding="utf-8")
    res = runner.invoke(app, ["events", "-c", str(path), "--since", "1h"])
    assert res.exit_code == 0, res.output
    assert "FALLBACK" in res.output
