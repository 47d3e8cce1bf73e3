"""What every command shares: the console and turning our errors into clean exits."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import Facts, ProviderFallbackError, Shell

__all__ = ["ShellOpt", "console", "err_console", "fail", "friendly_errors", "never_crash_output",
           "shell_of"]

ShellOpt = Annotated[str | None, typer.Option(
    "--shell", help="Shell of the fix commands: powershell, cmd or bash (default: PowerShell on "
    "Windows, bash elsewhere; $PROVIDER_FALLBACK_SHELL)")]


def shell_of(name: str | None) -> Shell:
    """The --shell option as a Shell; a clean error for an unknown name."""
    if not name:
        return Shell.default()
    try:
        return Shell.parse(name)
    except ValueError as exc:
        raise fail(str(exc), code="invalid_request", fix="--shell powershell|cmd|bash",
                   exit_code=2) from None

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def never_crash_output() -> None:
    """Every CLI writer survives a legacy code page: what cp1252 (redirected output on
    Windows), cp437 or ASCII cannot encode is replaced, not a UnicodeEncodeError. Files
    written with -o are always UTF-8 (they do not go through these streams)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "strict") == "strict":
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):   # a stream that cannot be reconfigured: leave it
                pass


def fail(message: str, *, code: str, fix: str | None = None, exit_code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error[/] {escape(f'[{code}]')} {escape(message)}", soft_wrap=True)
    if fix:
        err_console.print(f"  fix: {fix}", markup=False, soft_wrap=True)
    return typer.Exit(exit_code)


@contextmanager
def friendly_errors(facts: Facts | None = None, shell: Shell | None = None) -> Iterator[None]:
    """ProviderFallbackError -> one readable message and exit 1; never a traceback. The fix
    steps are filled with `facts` (e.g. the config file) in `shell`."""
    try:
        yield
    except ProviderFallbackError as exc:
        err_console.print(f"[bold red]error[/] {escape(f'[{exc.code}]')}", end=" ")
        err_console.print(exc.message, markup=False, soft_wrap=True)
        for step in exc.render_resolution(facts, shell):
            if step and step not in exc.message:
                err_console.print(f"  fix: {step}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise typer.Exit(130) from None
