"""What doctor reports: findings with a severity, a registry code and what to do about it."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Facts, Shell, render_steps, spec

__all__ = ["Finding", "Report", "Severity", "mask_key"]


class Severity(enum.IntEnum):
    """Ordered so `max()` gives the worst; the exit code follows from it."""

    OK = 0
    INFO = 1        # skipped or not applicable; never changes the exit code
    WARNING = 2
    ERROR = 3


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of one check. Anything but OK/INFO carries a registry code."""

    check: str                      # "config", "env", "keys", "provider", "port", "proxy", ...
    subject: str                    # what was checked: a provider name, a variable, "127.0.0.1:4100"
    severity: Severity
    message: str
    code: str | None = None
    fix: tuple[str, ...] = ()       # steps specific to this finding, before the registry's
    detail: dict[str, Any] = field(default_factory=dict)
    facts: Facts = Facts()          # what the steps are filled with (host, port, variable, ...)

    def __post_init__(self) -> None:
        if self.severity >= Severity.WARNING and not self.code:
            raise ValueError(f"a {self.severity.name} finding needs a registry code: {self.message}")

    @property
    def resolution(self) -> tuple[str, ...]:
        """This finding's own steps, then the registry's for its code (no repeats), for
        this machine's shell."""
        return self.steps()

    def steps(self, shell: Shell | None = None) -> tuple[str, ...]:
        """The resolution rendered for `shell` with this finding's facts."""
        templates: list[Any] = list(self.fix)
        if self.code and self.severity >= Severity.WARNING:
            templates += spec(self.code).resolution
        return render_steps(templates, self.facts, shell)

    def as_dict(self, shell: Shell | None = None) -> dict[str, Any]:
        return {"check": self.check, "subject": self.subject,
                "severity": self.severity.name.lower(), "code": self.code,
                "message": self.message, "resolution": list(self.steps(shell)),
                **({"detail": self.detail} if self.detail else {})}


@dataclass(frozen=True, slots=True)
class Report:
    findings: tuple[Finding, ...]
    seconds: float = 0.0

    @classmethod
    def of(cls, findings: Iterable[Finding], seconds: float = 0.0) -> Report:
        return cls(tuple(findings), seconds)

    @property
    def worst(self) -> Severity:
        return max((f.severity for f in self.findings), default=Severity.OK)

    @property
    def exit_code(self) -> int:
        """0 all good, 1 warnings, 2 errors."""
        return {Severity.ERROR: 2, Severity.WARNING: 1}.get(self.worst, 0)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def as_dict(self, shell: Shell | None = None) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "seconds": round(self.seconds, 3),
                "summary": {s.name.lower(): self.count(s) for s in Severity},
                "findings": [f.as_dict(shell) for f in self.findings]}


def mask_key(value: str) -> str:
    """A key as its length and first 4 characters only (none of it when it is short)."""
    if len(value) < 12:
        return f"{len(value)} chars"
    return f"{len(value)} chars, starts {value[:4]!r}"
