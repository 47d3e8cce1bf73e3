"""Who holds a busy port: Windows from `netstat -ano` and `tasklist`, macOS from `lsof`,
Linux from /proc (no tool needed). Parsers take recorded output, so they run on any OS."""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ._commands import Runner, run_command

__all__ = ["Holder", "find_holder", "parse_lsof", "parse_netstat_listeners", "parse_tasklist"]

_ENDPOINT = re.compile(r"^(?:\[(?P<v6>[^\]]*)\]|(?P<v4>[^:\s]+)):(?P<port>\d+)$")
_ANY_REMOTE = ("0.0.0.0:0", "[::]:0", "*:*")


@dataclass(frozen=True, slots=True)
class Holder:
    """The process listening on a port."""

    pid: int
    name: str | None = None

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.name})" if self.name else f"pid {self.pid}"


def parse_netstat_listeners(text: str) -> dict[int, int]:
    """`netstat -ano` (Windows) -> {port: pid} of listening TCP sockets.

    The State column is translated on non-English Windows ("ABHÖREN", "ÉCOUTE"), so a
    listener is recognised by its foreign address (0.0.0.0:0 / [::]:0) instead.
    """
    listeners: dict[int, int] = {}
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 4 or cols[0].upper() != "TCP" or cols[2] not in _ANY_REMOTE:
            continue
        local = _ENDPOINT.match(cols[1])
        if local is None or not cols[-1].isdigit():
            continue
        listeners.setdefault(int(local.group("port")), int(cols[-1]))
    return listeners


def parse_tasklist(text: str) -> dict[int, str]:
    """`tasklist /FO CSV /NH` -> {pid: image name}; message lines ("INFO: No tasks ...",
    translated too) are not CSV rows and are skipped."""
    out: dict[int, str] = {}
    rows = [line for line in text.splitlines() if line.startswith('"')]
    for row in csv.reader(io.StringIO("\n".join(rows))):
        if len(row) >= 2 and row[1].isdigit():
            out[int(row[1])] = row[0]
    return out


def parse_lsof(text: str) -> Holder | None:
    """`lsof -nP -iTCP:PORT -sTCP:LISTEN -Fpc` (macOS, Linux) -> the first process."""
    pid, name = None, None
    for line in text.splitlines():
        if line.startswith("p") and line[1:].isdigit():
            if pid is not None:
                break
            pid = int(line[1:])
        elif line.startswith("c") and pid is not None and name is None:
            name = line[1:]
    return Holder(pid, name) if pid is not None else None


def find_holder(port: int, *, platform: str = sys.platform,
                runner: Runner = run_command) -> Holder | None:
    """The process listening on `port`, where the OS lets us see it (blocking: call it from
    a thread)."""
    if platform == "win32":
        listeners = parse_netstat_listeners(runner(["netstat", "-ano", "-p", "TCP"], 5.0) or "")
        if port not in listeners:   # -p TCP lists IPv4 only; IPv6 listeners need TCPv6
            listeners = parse_netstat_listeners(runner(["netstat", "-ano"], 5.0) or "")
        pid = listeners.get(port)
        if pid is None:
            return None
        names = parse_tasklist(runner(["tasklist", "/FI", f"PID eq {pid}", "/FO", "CSV",
                                       "/NH"], 5.0) or "")
        return Holder(pid, names.get(pid))
    if platform.startswith("linux"):
        found = _proc_holder(port)
        if found is not None:
            return found
    text = runner(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"], 5.0)
    return parse_lsof(text) if text else None


def _proc_holder(port: int) -> Holder | None:
    """Linux: the socket inode listening on `port` in /proc/net/tcp*, then the process
    holding an fd on it. Processes of other users are invisible without root (None)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        inodes = set(_listening_inodes(port))
        if not inodes:
            return None
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            try:
                for fd in (pid_dir / "fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        name = (pid_dir / "comm").read_text().strip()
                        return Holder(int(pid_dir.name), name)
            except OSError:
                continue
    except OSError:
        return None
    return None


def _listening_inodes(port: int) -> Iterable[str]:
    if not sys.platform.startswith("linux"):
        return
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                yield cols[9]
