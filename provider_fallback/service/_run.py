"""`provider-fallback service run`: what the service manager starts. The gateway's output
goes to the log file under the data directory (pythonw.exe has no console: without this
every print would go nowhere, or fail), its pid to the pid file `service stop` reads.
With `--restart` (the Windows task) the gateway is started again when it exits with an
error, with backoff."""

from __future__ import annotations

import io
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["LOG_MAX_BYTES", "open_log", "run_service"]

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 3
_RAN_LONG = 60.0          # a gateway that ran this long before failing starts a new backoff


def _rotate(path: Path) -> None:
    if not path.exists() or path.stat().st_size < LOG_MAX_BYTES:
        return
    for i in range(LOG_BACKUPS - 1, 0, -1):
        older = path.with_name(f"{path.name}.{i}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{i + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


def open_log(path: Path) -> io.TextIOWrapper:
    """The log file for stdout and stderr: appended, UTF-8, line-buffered, never raising
    on what it cannot encode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _rotate(path)
    return open(path, "a", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115


class _Stopped(BaseException):
    """SIGTERM (systemd's or launchd's stop): uvicorn shuts down gracefully, then raises
    the signal again; this handler turns that into a clean exit that cleans up."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped


def run_service(serve: Callable[[], int], *, log_file: Path, pid_file: Path,
                restart: bool, backoff: float = 5.0, max_backoff: float = 300.0,
                sleep: Callable[[float], None] = time.sleep) -> int:
    """Run `serve()` (returns its exit code) with output in `log_file`; again after an
    error exit when `restart`, waiting `backoff` doubling to `max_backoff`."""
    log = open_log(log_file)
    sys.stdout = sys.stderr = log
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()), encoding="utf-8")
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _stopped)
    wait = backoff
    try:
        while True:
            started = time.monotonic()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            print(f"--- {stamp} provider-fallback service: starting the gateway (pid "
                  f"{os.getpid()})", flush=True)
            stopped = False
            try:
                code = serve()
            except (KeyboardInterrupt, _Stopped):
                code, stopped = 0, True
            print(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} the gateway exited with code "
                  f"{code}" + (" (stopped)" if stopped else ""), flush=True)
            if code == 0 or not restart:
                return code
            if time.monotonic() - started > _RAN_LONG:
                wait = backoff
            print(f"--- restarting in {wait:g}s", flush=True)
            sleep(wait)
            wait = min(wait * 2, max_backoff)
    finally:
        pid_file.unlink(missing_ok=True)
        log.flush()
