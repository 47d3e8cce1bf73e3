"""Running the gateway at logon, as a per-user service: a Task Scheduler task on Windows,
a systemd user unit on Linux, a launchd agent on macOS (`provider-fallback service`)."""

from ._actions import Action, Outcome, execute
from ._launchd import launchd_plist
from ._manage import (
    ServiceStatus,
    actions_for,
    build_plan,
    manager_name,
    service_status,
    unseen_variables,
)
from ._plan import DEFAULT_NAME, PLATFORMS, ServicePlan, platform_key
from ._run import run_service
from ._systemd import systemd_unit
from ._windows import task_xml

__all__ = [
    "Action",
    "DEFAULT_NAME",
    "Outcome",
    "PLATFORMS",
    "ServicePlan",
    "ServiceStatus",
    "actions_for",
    "build_plan",
    "execute",
    "launchd_plist",
    "manager_name",
    "platform_key",
    "run_service",
    "service_status",
    "systemd_unit",
    "task_xml",
    "unseen_variables",
]
