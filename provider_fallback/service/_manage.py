"""The service operations for this OS (or the one asked for with --platform, dry-run):
the plan from the config, the actions per operation, status, logs, and the variables a
service would not see."""

from __future__ import annotations

import getpass
import os
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._actions import Action, run_tool
from ._launchd import agent_path, launchd_actions, launchd_status_args
from ._plan import DEFAULT_NAME, ServicePlan, platform_key, service_python
from ._systemd import systemd_actions, systemd_status_args, unit_path
from ._windows import windows_actions, windows_status_args

__all__ = ["ServiceStatus", "actions_for", "build_plan", "follow_log", "manager_name",
           "service_status", "tail_log", "unseen_variables"]

_MANAGERS = {"windows": "Task Scheduler task", "linux": "systemd user unit",
             "macos": "launchd agent"}


def manager_name(platform: str) -> str:
    return _MANAGERS[platform_key(platform)]


def _windows_user(environ: Mapping[str, str]) -> str:
    user = environ.get("USERNAME") or getpass.getuser()
    domain = environ.get("USERDOMAIN")
    return f"{domain}\\{user}" if domain else user


def build_plan(config: Path, *, name: str = DEFAULT_NAME, platform: str = sys.platform,
               python: str | None = None, environ: Mapping[str, str] | None = None) -> ServicePlan:
    """The plan for `config`: its absolute path, the interpreter, the log file in the
    data directory (telemetry.log_dir, or <data dir>/logs), the pid file."""
    from ..cli._gateway import config_for_reading
    from ..telemetry._writer import log_dir_for

    env = os.environ if environ is None else environ
    path = config.expanduser().resolve()
    cfg = config_for_reading(path)
    logs = log_dir_for(cfg, env).expanduser().resolve()
    key = platform_key(platform)
    return ServicePlan(name=name, platform=key,
                       python=python or service_python(sys.executable, platform),
                       config=str(path), log_file=str(logs / f"{name}.log"),
                       state_dir=str(logs.parent / "service"),
                       user=_windows_user(env) if key == "windows" else "")


def actions_for(plan: ServicePlan, operation: str, *, start: bool = True) -> list[Action]:
    build = {"windows": windows_actions, "linux": systemd_actions,
             "macos": launchd_actions}[plan.platform]
    return build(plan, operation, start=start)


def definition_path(plan: ServicePlan) -> str | None:
    """Where the unit / agent file lives (the Windows task lives in Task Scheduler)."""
    if plan.platform == "linux":
        return unit_path(plan)
    if plan.platform == "macos":
        return agent_path(plan)
    return None


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    installed: bool
    manager_says: str              # the service manager's own words (first lines)
    pid: int | None                # from the pid file, if that process is alive
    answering: str | None          # "http://127.0.0.1:4100/health: ok" or why not
    log_file: str


def _pid_alive(plan: ServicePlan) -> int | None:
    try:
        pid = int(Path(plan.pid_file).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    if plan.platform == "windows":
        code, out = run_tool(["tasklist", "/FI", f"PID eq {pid}", "/NH", "/FO", "CSV"], 10)
        return pid if code == 0 and f'"{pid}"' in out else None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _health(config: str) -> str:
    from ..cli._gateway import config_for_reading

    try:
        cfg = config_for_reading(Path(config))
    except BaseException:  # noqa: BLE001 - a status line, never a traceback
        return "config unreadable"
    host = "127.0.0.1" if cfg.server.host in ("0.0.0.0", "::") else cfg.server.host
    url = f"http://{host}:{cfg.server.port}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - our own gateway
            return f"{url}: HTTP {resp.status}"
    except OSError as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"


def service_status(plan: ServicePlan) -> ServiceStatus:
    args = {"windows": windows_status_args, "linux": systemd_status_args,
            "macos": launchd_status_args}[plan.platform](plan)
    code, out = run_tool(args, 20)
    installed = code in (0, 3) if plan.platform == "linux" else code == 0
    if plan.platform == "linux" and "could not be found" in out:
        installed = False
    said = "\n".join(out.splitlines()[:12])
    return ServiceStatus(installed, said, _pid_alive(plan), _health(plan.config), plan.log_file)


def tail_log(path: Path, lines: int) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * max(lines, 1) - 4096))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:] if lines > 0 else []


def follow_log(path: Path, poll: float = 0.5) -> Iterator[str]:
    """New lines of `path` as they are written (survives the file being rotated)."""
    position = path.stat().st_size if path.exists() else 0
    while True:
        try:
            size = path.stat().st_size
            if size < position:
                position = 0
            if size > position:
                with path.open("rb") as f:
                    f.seek(position)
                    chunk = f.read()
                position += len(chunk)
                yield from chunk.decode("utf-8", errors="replace").splitlines()
        except OSError:
            pass
        time.sleep(poll)


def unseen_variables(config: Path, platform: str = sys.platform) -> list[str]:
    """Variables the config needs that a service would not see: not in the .env beside
    the config (and, on Windows, not set with setx / in the system environment)."""
    from ..doctor import load_for_doctor

    missing = set(load_for_doctor(config, environ={}).missing)
    if platform_key(platform) == "windows" and sys.platform == "win32":
        missing = {name for name in missing if not _in_windows_registry(name)}
    return sorted(missing)


def _in_windows_registry(name: str) -> bool:
    try:
        import winreg
    except ImportError:          # not on Windows
        return False
    places = ((winreg.HKEY_CURRENT_USER, "Environment"),
              (winreg.HKEY_LOCAL_MACHINE,
               r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment"))
    for root, key in places:
        try:
            with winreg.OpenKey(root, key) as handle:
                winreg.QueryValueEx(handle, name)
                return True
        except OSError:
            continue
    return False
