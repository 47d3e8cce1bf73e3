"""Windows: a per-user Task Scheduler task (no administrator rights): at logon, hidden
(pythonw.exe), restarted on failure, never stopped for running long.

The task is registered from a Task XML (`schtasks /Create /XML`) because schtasks'
switches cannot say "restart on failure" or "no time limit" (the default stops a task
after 72 hours). `service run --restart` also restarts the gateway itself when it exits
with an error: Task Scheduler's restart applies when the task fails to start, not when
the program exits non-zero.
"""

from __future__ import annotations

import subprocess

from ._actions import Action
from ._plan import ServicePlan, native_path


def escape(text: str) -> str:
    """XML text escaping (xml.sax.saxutils' own, imported when a task is rendered)."""
    from xml.sax.saxutils import escape as xml_escape

    return xml_escape(text)

__all__ = ["task_xml", "windows_actions", "windows_status_args"]


def task_xml(plan: ServicePlan) -> str:
    """The task definition (Task Scheduler schema 1.2: Windows 7 and later)."""
    args = plan.run_args(restart=True)
    user = escape(plan.user)
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Author>{user}</Author>
    <Description>provider-fallback gateway for {escape(plan.config)} (installed by `provider-fallback service install`; log: {escape(plan.log_file)})</Description>
    <URI>\\{escape(plan.name)}</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>{user}</UserId>
      <Delay>PT10S</Delay>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{user}</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(args[0])}</Command>
      <Arguments>{escape(subprocess.list2cmdline(args[1:]))}</Arguments>
      <WorkingDirectory>{escape(plan.workdir)}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""


def _xml_path(plan: ServicePlan) -> str:
    return str(native_path(plan.state_dir) / f"{plan.name}.xml")


def _kill_tree(plan: ServicePlan) -> list[Action]:
    """The gateway and what it started (a supervised LiteLLM): `schtasks /End` stops only
    the process Task Scheduler started."""
    pid = _read_pid(plan)
    if pid is None:
        return []
    return [Action.run("taskkill", "/PID", str(pid), "/T", "/F", ok=(0, 128),
                       why="stop the gateway and the upstreams it supervises")]


def _read_pid(plan: ServicePlan) -> int | None:
    from pathlib import Path

    try:
        text = Path(plan.pid_file).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def windows_actions(plan: ServicePlan, operation: str, *, start: bool = True) -> list[Action]:
    name = plan.name
    if operation == "install":
        steps = [Action.write(_xml_path(plan), task_xml(plan), encoding="utf-16",
                              why="the task definition (UTF-16, as schtasks /XML reads it)"),
                 Action.run("schtasks", "/Create", "/TN", name, "/XML", _xml_path(plan), "/F",
                            why="register it for this user (no administrator rights needed)")]
        return steps + (windows_actions(plan, "start") if start else [])
    if operation == "start":
        return [Action.run("schtasks", "/Run", "/TN", name, why="start it now")]
    if operation == "stop":
        return [*_kill_tree(plan),
                Action.run("schtasks", "/End", "/TN", name, ok=(0, 1), why="mark the task ended")]
    if operation == "uninstall":
        return [*windows_actions(plan, "stop"),
                Action.run("schtasks", "/Delete", "/TN", name, "/F", why="unregister it"),
                Action.remove(_xml_path(plan)), Action.remove(plan.pid_file)]
    raise ValueError(operation)


def windows_status_args(plan: ServicePlan) -> list[str]:
    return ["schtasks", "/Query", "/TN", plan.name, "/FO", "LIST", "/V"]
