"""What `service install` writes, rendered on every OS and compared with golden files:
the Windows Task XML, the systemd user unit, the launchd agent. Set UPDATE_GOLDEN=1 to
rewrite them after a deliberate change (and read the diff)."""

from __future__ import annotations

import os
import plistlib
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provider_fallback.cli import app
from provider_fallback.service import (
    ServicePlan,
    actions_for,
    launchd_plist,
    systemd_unit,
    task_xml,
)

GOLDEN = Path(__file__).parent / "golden"
runner = CliRunner()

WINDOWS = ServicePlan(
    name="provider-fallback", platform="windows",
    python=r"C:\Users\pavel\Agent Gateway\.venv\Scripts\pythonw.exe",
    config=r"C:\Users\pavel\Agent Gateway\provider_config.yaml",
    log_file=r"C:\Users\pavel\AppData\Local\provider-fallback\logs\provider-fallback.log",
    state_dir=r"C:\Users\pavel\AppData\Local\provider-fallback\service",
    user=r"DESKTOP-7Q2LK\pavel")
LINUX = ServicePlan(
    name="provider-fallback", platform="linux", python="/home/pavel/gw/.venv/bin/python",
    config="/home/pavel/Agent Gateway/provider_config.yaml",
    log_file="/home/pavel/.local/share/provider-fallback/logs/provider-fallback.log",
    state_dir="/home/pavel/.local/share/provider-fallback/service")
MACOS = ServicePlan(
    name="provider-fallback", platform="macos", python="/Users/pavel/gw/.venv/bin/python",
    config="/Users/pavel/Agent Gateway/provider_config.yaml",
    log_file="/Users/pavel/Library/Application Support/provider-fallback/logs/"
             "provider-fallback.log",
    state_dir="/Users/pavel/Library/Application Support/provider-fallback/service")


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8", newline="")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; UPDATE_GOLDEN=1 rewrites it"


def test_windows_task_xml() -> None:
    text = task_xml(WINDOWS)
    _golden("provider-fallback.task.xml", text)
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    root = ET.fromstring(text.replace('encoding="UTF-16"', ""))
    assert root.find("t:Triggers/t:LogonTrigger/t:UserId", ns).text == r"DESKTOP-7Q2LK\pavel"
    principal = root.find("t:Principals/t:Principal", ns)
    assert principal.find("t:LogonType", ns).text == "InteractiveToken"     # no password
    assert principal.find("t:RunLevel", ns).text == "LeastPrivilege"        # no admin rights
    settings = root.find("t:Settings", ns)
    assert settings.find("t:ExecutionTimeLimit", ns).text == "PT0S"        # never stopped at 72 h
    assert settings.find("t:RestartOnFailure/t:Count", ns).text == "999"
    assert settings.find("t:DisallowStartIfOnBatteries", ns).text == "false"
    exec_ = root.find("t:Actions/t:Exec", ns)
    assert exec_.find("t:Command", ns).text.endswith("pythonw.exe")        # hidden: no console
    arguments = exec_.find("t:Arguments", ns).text
    assert '--config "C:\\Users\\pavel\\Agent Gateway\\provider_config.yaml"' in arguments
    assert arguments.endswith("--restart")
    assert exec_.find("t:WorkingDirectory", ns).text == r"C:\Users\pavel\Agent Gateway"


def test_windows_actions_register_for_this_user_without_admin() -> None:
    install = [a.describe() for a in actions_for(WINDOWS, "install")]
    xml = r"C:\Users\pavel\AppData\Local\provider-fallback\service\provider-fallback.xml"
    assert install == [f"write {xml} (utf-16)",
                       f"run schtasks /Create /TN provider-fallback /XML {xml} /F",
                       "run schtasks /Run /TN provider-fallback"]
    assert [a.describe() for a in actions_for(WINDOWS, "uninstall")][-3] == \
        "run schtasks /Delete /TN provider-fallback /F"


def test_systemd_user_unit() -> None:
    text = systemd_unit(LINUX)
    _golden("provider-fallback.service", text)
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(exec_start.removeprefix("ExecStart="))
    assert words[:5] == ["/home/pavel/gw/.venv/bin/python", "-m", "provider_fallback",
                         "service", "run"]
    assert words[words.index("--config") + 1] == LINUX.config
    assert "--restart" not in words          # systemd restarts it (Restart=on-failure)
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert "WorkingDirectory=/home/pavel/Agent Gateway\n" in text   # a path, not a command


def test_systemd_escapes_specifiers_and_variables() -> None:
    odd = ServicePlan(name="gw", platform="linux", python="/opt/py/bin/python",
                      config="/srv/100%/$HOME/gw.yaml", log_file="/var/tmp/gw.log",
                      state_dir="/var/tmp")
    assert "/srv/100%%/$$HOME/gw.yaml" in systemd_unit(odd)


def test_launchd_agent() -> None:
    text = launchd_plist(MACOS)
    _golden("com.provider-fallback.gateway.plist", text)
    agent = plistlib.loads(text.encode())
    assert agent["Label"] == "com.provider-fallback.gateway"
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["ProgramArguments"][agent["ProgramArguments"].index("--config") + 1] == \
        MACOS.config
    assert agent["WorkingDirectory"] == "/Users/pavel/Agent Gateway"


def test_a_bad_name_is_refused() -> None:
    with pytest.raises(ValueError, match="service name"):
        ServicePlan(name="a b", platform="linux", python="p", config="/c", log_file="/l",
                    state_dir="/s")


@pytest.mark.parametrize("platform", ["windows", "linux", "macos"])
def test_dry_run_prints_everything_and_writes_nothing(tmp_path, monkeypatch, platform) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("PROVIDER_FALLBACK_DATA_DIR", str(tmp_path / "data"))
    config = tmp_path / "gw" / "provider_config.yaml"
    config.parent.mkdir()
    config.write_text("providers:\n  - {name: groq, base_url: 'https://api.groq.com/openai/v1', "
                      "api_key: os.environ/GROQ_API_KEY}\nmodels: {chat: [groq/llama]}\n",
                      encoding="utf-8")
    res = runner.invoke(app, ["service", "install", "-c", str(config), "--dry-run",
                              "--platform", platform])
    assert res.exit_code == 0, res.output
    out = res.output
    shown = f"<string>{config}</string>" if platform == "macos" else f"--config {config}"
    assert shown in out.replace('"', "")
    assert {"windows": "schtasks /Create", "linux": "systemctl --user enable --now",
            "macos": "launchctl bootstrap"}[platform] in out
    assert "GROQ_API_KEY" in out          # the service would not see it: not in .env
    assert not (tmp_path / "home").exists() and not (tmp_path / "data").exists()


def test_another_platform_is_only_rendered(tmp_path) -> None:
    config = tmp_path / "provider_config.yaml"
    config.write_text("providers: [{name: a, base_url: 'http://127.0.0.1:9/v1'}]\n"
                      "models: {m: [a/x]}\n", encoding="utf-8")
    other = "linux" if os.name == "nt" else "windows"
    res = runner.invoke(app, ["service", "install", "-c", str(config), "--platform", other])
    assert res.exit_code == 2 and "--dry-run" in res.output


def test_a_missing_config_is_named_with_the_command_that_creates_it(tmp_path) -> None:
    res = runner.invoke(app, ["service", "install", "-c", str(tmp_path / "provider_config.yaml"),
                              "--dry-run"])
    assert res.exit_code == 1 and "provider-fallback init" in res.output
