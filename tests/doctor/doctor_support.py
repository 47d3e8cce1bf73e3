"""Writing configs for doctor tests around running sims."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port() -> int:
    return closed_port()


def write_config(path: Path, providers: list[dict[str, Any]], models: dict[str, list[Any]],
                 **extra: Any) -> Path:
    data: dict[str, Any] = {"server": {"port": free_port()}, **extra, "providers": providers,
                            "models": models}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def by(report: Any, **match: Any) -> list[Any]:
    """Findings whose attributes equal `match` (severity compared by name)."""
    out = []
    for f in report.findings:
        if all((f.severity.name.lower() if k == "severity" else getattr(f, k)) == v
               for k, v in match.items()):
            out.append(f)
    return out
