"""What a service runs and where its files go, whatever the OS's service manager."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

__all__ = ["DEFAULT_NAME", "PLATFORMS", "ServicePlan", "native_path", "platform_key",
           "service_python"]

DEFAULT_NAME = "provider-fallback"
PLATFORMS = ("windows", "linux", "macos")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def platform_key(platform: str = sys.platform) -> str:
    """'windows', 'macos' or 'linux' (any other Unix is served like Linux: systemd)."""
    if platform in PLATFORMS:
        return platform
    if platform.startswith("win"):
        return "windows"
    return "macos" if platform == "darwin" else "linux"


def service_python(executable: str = sys.executable, platform: str = sys.platform) -> str:
    """The interpreter a service runs: on Windows pythonw.exe beside python.exe (no console
    window at logon) when there is one."""
    if platform_key(platform) != "windows":
        return executable
    path = PureWindowsPath(executable)
    hidden = path.with_name("pythonw.exe")
    if path.name.lower() == "python.exe" and Path(str(hidden)).exists():
        return str(hidden)
    return executable


def native_path(text: str) -> PurePath:
    """A Windows path if it reads like one (drive letter, backslashes), else a POSIX one: a
    plan rendered for Windows on Linux (--dry-run --platform windows) stays consistent."""
    windows = "\\" in text or re.match(r"^[A-Za-z]:", text) is not None
    return PureWindowsPath(text) if windows else PurePosixPath(text)


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """One gateway as a per-user service: `serve --config CONFIG` at logon, logs to LOG."""

    name: str                 # task / unit / agent name
    platform: str             # windows | linux | macos
    python: str               # interpreter (pythonw.exe on Windows)
    config: str               # absolute path of the config
    log_file: str             # the gateway's output, under the data directory
    state_dir: str            # pid file and the Task XML (Windows)
    user: str = ""            # DOMAIN\\user for the Windows task's logon trigger
    workers: int = 1          # serve --workers

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"service name {self.name!r}: use letters, digits, '-', '_', '.'")

    @property
    def workdir(self) -> str:
        """The config's folder: relative paths and the .env beside the config resolve there."""
        return str(native_path(self.config).parent)

    @property
    def pid_file(self) -> str:
        return str(native_path(self.state_dir) / f"{self.name}.pid")

    def run_args(self, *, restart: bool) -> list[str]:
        """The command line the service manager starts."""
        args = [self.python, "-m", "provider_fallback", "service", "run", "--config", self.config,
                "--log-file", self.log_file, "--pid-file", self.pid_file]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        return [*args, "--restart"] if restart else args
