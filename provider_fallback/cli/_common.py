"""What every command shares: the console and turning our errors into clean exits."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import ProviderFallbackError

__all__ = ["console", "err_console", "fail", "friendly_errors"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, *, code: str, fix: str | None = None, exit_code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error[/] {escape(f'[{code}]')} {escape(message)}", soft_wrap=True)
    if fix:
        err_console.print(f"  fix: {fix}", markup=False, soft_wrap=True)
    return typer.Exit(exit_code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """ProviderFallbackError -> one readable message and exit 1; never a traceback."""
    try:
        yield
    except ProviderFallbackError as exc:
        err_console.print(f"[bold red]error[/] {escape(f'[{exc.code}]')}", end=" ")
        err_console.print(exc.message, markup=False, soft_wrap=True)
        for step in exc.resolution:
            if step and step not in exc.message:
                err_console.print(f"  fix: {step}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise typer.Exit(130) from None
