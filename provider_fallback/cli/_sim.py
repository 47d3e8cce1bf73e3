"""`provider-fallback sim`: one simulated provider in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import friendly_errors

__all__ = ["sim"]


def sim(port: Annotated[int, typer.Option(help="Port to listen on (0 = any free port)")] = 4200,
        model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Model id to serve (repeatable)")] = None,
        flavor: Annotated[str, typer.Option(help="Error body format: groq, openrouter, openai, anthropic, litellm, kilo")] = "openai",
        fault: Annotated[str | None, typer.Option(help="Standing fault, e.g. 503, 429, hang, reset, stall, cut")] = None,
        rpm: Annotated[int | None, typer.Option(help="Requests per minute before 429s")] = None,
        latency: Annotated[float, typer.Option(help="Seconds before each answer")] = 0.0) -> None:
    """Run a simulated OpenAI-compatible provider that misbehaves on purpose."""
    from ..sim._cli import run_sim

    with friendly_errors():
        run_sim(port=port, models=model or ["sim-model"], flavor=flavor, fault=fault, rpm=rpm,
                latency=latency)
