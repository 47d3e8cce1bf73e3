"""What every command shares: the console and turning our errors into clean exits.

rich is imported on first use, not with the command line: `serve` prints one plain line
and stays up for good, and rich's modules would stay in its memory (~2 MiB).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from ..errors import Facts, ProviderFallbackError, Shell

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ShellOpt", "console", "err_console", "escape", "fail", "friendly_errors",
           "never_crash_output", "shell_of"]

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


class _LazyConsole:
    """A rich Console made on first use (rich is imported then)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def _made(self) -> Console:
        made = self._console
        if made is None:
            from rich.console import Console

            made = self._console = Console(**self._options)
        return made

    def __getattr__(self, name: str) -> Any:
        # only called for what this object lacks: everything of the Console
        return getattr(self._made(), name)

    # special methods are looked up on the type, not through __getattr__ (rich's Live, a
    # Progress bar, enters its console)
    def __enter__(self) -> Console:
        return self._made().__enter__()

    def __exit__(self, *exc: object) -> None:
        self._made().__exit__(*exc)   # type: ignore[arg-type]


console = cast("Console", _LazyConsole(highlight=False))
err_console = cast("Console", _LazyConsole(stderr=True, highlight=False))


def escape(markup: str) -> str:
    """rich.markup.escape, importing rich only when called."""
    from rich.markup import escape as rich_escape

    return rich_escape(markup)


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
