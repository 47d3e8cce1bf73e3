"""An append-only JSON-lines file with size-based rotation and age-based retention.

Synchronous on purpose: only the background writer thread calls it. Rotation renames
`fallback_events.jsonl` -> `.1` -> `.2` ... up to `backups`; rotated files older than
`retention_days` are deleted. Plain renames and unlinks: the same on Windows.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

__all__ = ["EVENTS_FILE", "RotatingJsonl"]

EVENTS_FILE = "fallback_events.jsonl"


class RotatingJsonl:
    def __init__(self, path: Path, *, max_bytes: int, backups: int, retention_days: float) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.retention_s = retention_days * 86400
        self._fh: IO[bytes] | None = None
        self._size = 0

    def _open(self) -> IO[bytes]:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open across writes
            self._size = self._fh.tell()
        return self._fh

    def write_lines(self, lines: list[bytes]) -> None:
        """Append one JSON document per line, rotating first if the file would grow too big."""
        if not lines:
            return
        fh = self._open()
        for line in lines:
            if self._size and self._size + len(line) + 1 > self.max_bytes:
                self.rotate()
                fh = self._open()
            fh.write(line + b"\n")
            self._size += len(line) + 1
        fh.flush()

    def rotate(self) -> None:
        self.close()
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
        else:
            for i in range(self.backups - 1, 0, -1):
                src = self._backup(i)
                if src.exists():
                    os.replace(src, self._backup(i + 1))
            if self.path.exists():
                os.replace(self.path, self._backup(1))
        self.prune()

    def prune(self, now: float | None = None) -> None:
        """Delete rotated files older than the retention period (and past `backups`)."""
        now = time.time() if now is None else now
        for f in self.path.parent.glob(self.path.name + ".*"):
            suffix = f.name[len(self.path.name) + 1:]
            if not suffix.isdigit():
                continue
            try:
                if int(suffix) > self.backups or now - f.stat().st_mtime > self.retention_s:
                    f.unlink()
            except OSError:
                pass

    def _backup(self, i: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{i}")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
