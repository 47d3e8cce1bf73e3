"""The `provider-fallback` command line."""

from __future__ import annotations

import typer

from ._budget import budget_app
from ._demo import demo
from ._doctor import check, doctor
from ._errors import errors
from ._events import events
from ._import import import_litellm
from ._init import init
from ._providers import providers_app
from ._reload import reload
from ._report import report
from ._serve import serve, validate
from ._sim import sim
from ._status import status

__all__ = ["app", "main"]

app = typer.Typer(name="provider-fallback", no_args_is_help=True, add_completion=False,
                  help="Keep AI agents answering when LLM providers fail.",
                  pretty_exceptions_enable=False)
app.command()(serve)
app.command()(validate)
app.command()(demo)
app.command()(sim)
app.command()(errors)
app.add_typer(providers_app, name="providers")
app.command()(events)
app.command()(status)
app.command()(reload)
app.command()(report)
app.add_typer(budget_app, name="budget")
app.command()(doctor)
app.command()(check)
app.command()(init)
app.command(name="import-litellm")(import_litellm)


def main() -> None:
    app()
