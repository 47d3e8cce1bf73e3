"""What a service operation does, as data: files to write or remove, commands to run.
`--dry-run` prints them; otherwise `execute` does them in order and stops at the first
command that fails."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Action", "Outcome", "execute", "run_tool"]

_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)


@dataclass(frozen=True, slots=True)
class Action:
    kind: str                            # "write", "remove" or "run"
    path: str = ""                       # write / remove
    content: str = ""                    # write
    encoding: str = "utf-8"              # write (Task Scheduler XML: utf-16)
    args: tuple[str, ...] = ()           # run
    ok_codes: frozenset[int] = field(default_factory=lambda: frozenset({0}))
    why: str = ""                        # one line for the user

    @classmethod
    def write(cls, path: str, content: str, *, encoding: str = "utf-8", why: str = "") -> Action:
        return cls("write", path=path, content=content, encoding=encoding, why=why)

    @classmethod
    def remove(cls, path: str, why: str = "") -> Action:
        return cls("remove", path=path, why=why)

    @classmethod
    def run(cls, *args: str, ok: Sequence[int] = (0,), why: str = "") -> Action:
        return cls("run", args=tuple(args), ok_codes=frozenset(ok), why=why)

    def describe(self) -> str:
        if self.kind == "write":
            return f"write {self.path}" + (f" ({self.encoding})" if self.encoding != "utf-8" else "")
        if self.kind == "remove":
            return f"remove {self.path}"
        return "run " + subprocess.list2cmdline(list(self.args))


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    failed: Action | None = None
    output: str = ""


Runner = Callable[[Sequence[str]], "tuple[int, str]"]


def run_tool(args: Sequence[str], timeout: float = 60.0) -> tuple[int, str]:
    """(exit code, stdout+stderr) of an OS tool; 127 when it cannot be started."""
    try:
        proc = subprocess.run(list(args), capture_output=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL, creationflags=_NO_WINDOW)
    except FileNotFoundError:
        return 127, f"{args[0]}: command not found"
    except (OSError, subprocess.SubprocessError) as exc:
        return 126, str(exc)
    from ..doctor._commands import decode_output

    return proc.returncode, decode_output(proc.stdout + proc.stderr).strip()


def execute(actions: Sequence[Action], runner: Runner = run_tool) -> Outcome:
    for action in actions:
        if action.kind == "write":
            path = Path(action.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            # utf-16 writes a BOM, which schtasks /XML wants with encoding="UTF-16"
            path.write_text(action.content, encoding=action.encoding, newline="")
        elif action.kind == "remove":
            Path(action.path).unlink(missing_ok=True)
        else:
            code, output = runner(action.args)
            if code not in action.ok_codes:
                return Outcome(False, action, output)
    return Outcome(True)
