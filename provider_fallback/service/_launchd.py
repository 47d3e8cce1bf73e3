"""macOS: a launchd agent (`~/Library/LaunchAgents/LABEL.plist`): loaded at login, kept
alive when it exits with an error."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ._actions import Action
from ._plan import DEFAULT_NAME, ServicePlan

__all__ = ["agent_label", "agent_path", "launchd_actions", "launchd_plist", "launchd_status_args"]


def agent_label(plan: ServicePlan) -> str:
    suffix = "gateway" if plan.name == DEFAULT_NAME else plan.name
    return f"com.provider-fallback.{suffix}"


def launchd_plist(plan: ServicePlan) -> str:
    agent = {
        "Label": agent_label(plan),
        "ProgramArguments": plan.run_args(restart=False),
        "WorkingDirectory": plan.workdir,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},     # restart after a crash, not after a stop
        "ThrottleInterval": 10,
        "ProcessType": "Background",
        # output before `service run` takes over its log (an import error, say)
        "StandardOutPath": plan.log_file,
        "StandardErrorPath": plan.log_file,
    }
    import plistlib  # here: the gateway process imports this module, never renders a plist

    return plistlib.dumps(agent, sort_keys=False).decode("utf-8")


def agent_path(plan: ServicePlan, environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    return str(home / "Library" / "LaunchAgents" / f"{agent_label(plan)}.plist")


def _domain() -> str:
    if sys.platform != "win32":            # the uid exists on Unix only
        return f"gui/{os.getuid()}"
    return "gui/<uid>"


def launchd_actions(plan: ServicePlan, operation: str, *, start: bool = True) -> list[Action]:
    label, path, domain = agent_label(plan), agent_path(plan), _domain()
    if operation == "install":
        steps = [Action.write(path, launchd_plist(plan), why="the launch agent"),
                 Action.run("launchctl", "bootout", f"{domain}/{label}", ok=(0, 3, 5, 36, 113),
                            why="unload an older copy, if any")]
        return steps + (launchd_actions(plan, "start") if start else [])
    if operation == "start":
        return [Action.run("launchctl", "bootstrap", domain, path, ok=(0, 5, 17, 37),
                           why="load it (RunAtLoad starts it)"),
                Action.run("launchctl", "kickstart", f"{domain}/{label}", why="start it now")]
    if operation == "stop":
        return [Action.run("launchctl", "bootout", f"{domain}/{label}", ok=(0, 3, 5, 36, 113),
                           why="unload it: KeepAlive would start it again")]
    if operation == "uninstall":
        return [*launchd_actions(plan, "stop"), Action.remove(path)]
    raise ValueError(operation)


def launchd_status_args(plan: ServicePlan) -> list[str]:
    return ["launchctl", "print", f"{_domain()}/{agent_label(plan)}"]
