"""`service run`, what the service manager starts, on any OS: the gateway's output in the
log file under the data directory, its pid in the pid file, restarted after an error exit
with --restart (the Windows task). And, where a user systemd runs, a real user unit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from gateway_harness import eventually, stop_process, wait_serving
from ports import free_port


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "provider_config.yaml"
    path.write_text(f"server: {{host: 127.0.0.1, port: {port}}}\n"
                    "providers: [{name: a, base_url: 'http://127.0.0.1:9/v1'}]\n"
                    "models: {chat: [a/x]}\nhealth: {enabled: false}\n"
                    f"telemetry: {{log_dir: '{(tmp_path / 'logs').as_posix()}'}}\n",
                    encoding="utf-8")
    return path


def _run(config: Path, tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "cp1252"}     # the log file is UTF-8 anyway
    return subprocess.Popen([sys.executable, "-m", "provider_fallback", "service", "run",
                             "--config", str(config), "--log-file", str(tmp_path / "gw.log"),
                             "--pid-file", str(tmp_path / "gw.pid"), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def _log(tmp_path: Path) -> str:
    path = tmp_path / "gw.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


async def test_service_run_logs_to_the_file_and_keeps_a_pid_file(tmp_path: Path) -> None:
    port = free_port()
    proc = _run(_config(tmp_path, port), tmp_path)
    try:
        await wait_serving(f"http://127.0.0.1:{port}", proc, timeout=60)
        assert (tmp_path / "gw.pid").read_text(encoding="utf-8") == str(proc.pid)
        await eventually(lambda: f"http://127.0.0.1:{port}/v1" in _log(tmp_path), timeout=10)
        assert "starting the gateway" in _log(tmp_path)
    finally:
        stop_process(proc, grace=20)
    assert proc.returncode == 0
    assert not (tmp_path / "gw.pid").exists()
    assert "exited with code 0" in _log(tmp_path)


async def test_service_run_restarts_the_gateway_after_an_error_exit(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    proc = _run(_config(tmp_path, port), tmp_path, "--restart", "--backoff", "0.2")
    try:
        # the port is taken: serve exits 2 (address_in_use), and is started again
        await eventually(lambda: _log(tmp_path).count("exited with code 2") >= 2, timeout=60)
        assert "address_in_use" in _log(tmp_path) and "restarting in 0.2s" in _log(tmp_path)
        busy.close()
        await wait_serving(f"http://127.0.0.1:{port}", proc, timeout=60)
    finally:
        busy.close()
        stop_process(proc, grace=20)
    assert "Traceback" not in _log(tmp_path)


def _user_systemd() -> str | None:
    """Why there is no usable user systemd here, or None."""
    if not sys.platform.startswith("linux") or shutil.which("systemctl") is None:
        return "not Linux, or no systemctl"
    res = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True,
                         text=True, timeout=20)
    if res.returncode != 0:
        return f"no user systemd: `systemctl --user` says {res.stderr.strip() or res.returncode}"
    return None


@pytest.mark.skipif(_user_systemd() is not None, reason=str(_user_systemd()))
async def test_a_real_user_unit_installs_starts_answers_and_uninstalls(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from provider_fallback.cli import app

    runner = CliRunner()
    name = f"pf-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    config = _config(tmp_path, port)
    res = runner.invoke(app, ["service", "install", "-c", str(config), "--name", name])
    try:
        assert res.exit_code == 0, res.output
        await wait_serving(f"http://127.0.0.1:{port}", None, timeout=60)
        res = runner.invoke(app, ["service", "status", "-c", str(config), "--name", name])
        assert res.exit_code == 0 and "HTTP 200" in res.output, res.output
        res = runner.invoke(app, ["service", "logs", "-c", str(config), "--name", name])
        assert res.exit_code == 0 and "starting the gateway" in res.output
    finally:
        res = runner.invoke(app, ["service", "uninstall", "-c", str(config), "--name", name])
    assert res.exit_code == 0, res.output


def test_status_and_logs_of_a_service_that_is_not_there(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from provider_fallback.cli import app

    runner = CliRunner()
    monkeypatch.setenv("PROVIDER_FALLBACK_DATA_DIR", str(tmp_path / "data"))
    config = _config(tmp_path, free_port())
    name = f"pf-absent-{uuid.uuid4().hex[:8]}"
    res = runner.invoke(app, ["service", "status", "-c", str(config), "--name", name])
    assert res.exit_code == 1 and "not installed" in res.output and "not running" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    res = runner.invoke(app, ["service", "logs", "-c", str(config), "--name", name])
    assert res.exit_code == 1 and "[service_failed]" in res.output and "service start" in res.output
