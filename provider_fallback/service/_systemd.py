"""Linux: a systemd user unit (`~/.config/systemd/user/NAME.service`): started with the
user's session (and at boot with `loginctl enable-linger`), restarted on failure."""

from __future__ import annotations

import os
from pathlib import Path

from ._actions import Action
from ._plan import ServicePlan

__all__ = ["systemd_actions", "systemd_status_args", "systemd_unit", "unit_path"]


def _quote(arg: str) -> str:
    """One ExecStart word: specifiers and variables escaped, quoted when it has spaces."""
    text = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{text}"' if any(c in text for c in ' \t"\'') else text


def systemd_unit(plan: ServicePlan) -> str:
    exec_start = " ".join(_quote(a) for a in plan.run_args(restart=False))
    return f"""# installed by `provider-fallback service install`; remove with `service uninstall`
[Unit]
Description=provider-fallback gateway ({plan.config})

[Service]
Type=simple
WorkingDirectory={plan.workdir.replace("%", "%%")}
ExecStart={exec_start}
Restart=on-failure
RestartSec=5
# keys come from the .env beside the config: a service sees no variable exported in a shell
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""


def unit_path(plan: ServicePlan, environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else \
        Path(env.get("HOME") or Path.home()) / ".config"
    return str(base / "systemd" / "user" / f"{plan.name}.service")


def systemd_actions(plan: ServicePlan, operation: str, *, start: bool = True) -> list[Action]:
    unit = f"{plan.name}.service"
    ctl = ("systemctl", "--user")
    if operation == "install":
        return [Action.write(unit_path(plan), systemd_unit(plan), why="the user unit"),
                Action.run(*ctl, "daemon-reload", why="let systemd read it"),
                Action.run(*ctl, "enable", *(["--now"] if start else []), unit,
                           why="start it with every session" + (" and now" if start else ""))]
    if operation == "start":
        return [Action.run(*ctl, "start", unit)]
    if operation == "stop":
        return [Action.run(*ctl, "stop", unit)]
    if operation == "uninstall":
        return [Action.run(*ctl, "disable", "--now", unit, ok=(0, 1, 5),
                           why="stop it and remove it from the session"),
                Action.remove(unit_path(plan)),
                Action.run(*ctl, "daemon-reload")]
    raise ValueError(operation)


def systemd_status_args(plan: ServicePlan) -> list[str]:
    return ["systemctl", "--user", "status", "--no-pager", "--lines=0", f"{plan.name}.service"]
