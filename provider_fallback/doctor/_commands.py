"""Running the OS's own tools (netstat, tasklist, netsh, lsof, ipconfig) for doctor: with a
timeout, without a console window, never raising, output decoded whatever the code page.

Doctor calls these from a worker thread (`asyncio.to_thread`), never on the event loop.
Checks take the runner as a parameter, so tests feed them recorded output on any OS.
"""

from __future__ import annotations

import locale
import subprocess
from collections.abc import Callable, Sequence

__all__ = ["Runner", "decode_output", "run_command"]

# (argv, timeout seconds) -> stdout text, or None when the tool is missing, failed or hung
Runner = Callable[[Sequence[str], float], "str | None"]

_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)   # Windows: no console flash


def decode_output(data: bytes) -> str:
    """UTF-8 if it is; UTF-16 (what wsl.exe and some PowerShell hosts write) if it has NULs;
    else the console's code page (cp437/cp850/cp1252 on Windows), never raising."""
    if b"\x00" in data:
        return data.decode("utf-16-le", errors="replace").lstrip("\ufeff")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for encoding in ("oem", locale.getpreferredencoding(False), "latin-1"):
        try:
            return data.decode(encoding, errors="replace")
        except LookupError:     # "oem" exists on Windows only
            continue
    return data.decode("latin-1")


def run_command(args: Sequence[str], timeout: float = 5.0) -> str | None:
    """stdout of `args`, or None if it cannot run, times out or fails without output."""
    try:
        proc = subprocess.run(list(args), capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, creationflags=_NO_WINDOW, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if proc.returncode != 0 and not proc.stdout.strip():
        return None
    return decode_output(proc.stdout)
