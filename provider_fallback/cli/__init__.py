"""The `provider-fallback` command line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ._budget import budget_app
from ._common import never_crash_output
from ._demo import demo
from ._doctor import check, doctor
from ._errors import errors
from ._events import events
from ._import import import_litellm
from ._init import init
from ._providers import providers_app
from ._report import report
from ._serve import serve, validate
from ._service import service_app
from ._sim import sim
from ._status import status

__all__ = ["app", "main"]

app = typer.Typer(name="provider-fallback", no_args_is_help=True, add_completion=False,
                  help="Keep AI agents answering when LLM providers fail.",
                  pretty_exceptions_enable=False)


def version_text() -> str:
    """'provider-fallback 0.1.0 (Python 3.11.7, win32)'."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    try:
        number = version("provider-fallback")
    except PackageNotFoundError:   # run from a source tree that is not installed
        number = __version__
    return f"provider-fallback {number} (Python {sys.version.split()[0]}, {sys.platform})"


def _show_version(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the version and exit")] = False) -> None:
    """Keep AI agents answering when LLM providers fail."""


app.command()(serve)
app.command()(validate)
app.command()(demo)
app.command()(sim)
app.command()(errors)
app.add_typer(providers_app, name="providers")
app.command()(events)
app.command()(status)
app.command()(report)
app.add_typer(budget_app, name="budget")
app.command()(doctor)
app.command()(check)
app.command()(init)
app.command(name="import-litellm")(import_litellm)
app.add_typer(service_app, name="service")


def main() -> None:
    never_crash_output()
    app()
