"""`provider-fallback init`: ask which providers the user has, write a starter config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..setup import (
    CATALOG,
    InitPlan,
    ProviderChoice,
    custom_provider,
    with_models,
    with_plan,
    write_files,
)
from ._common import console, escape, fail, friendly_errors

__all__ = ["init"]

_DEFAULT_PROVIDERS = ("groq", "openrouter")


def init(directory: Annotated[Path, typer.Option("--dir", help="Where to write the files")] = Path("."),
         yes: Annotated[bool, typer.Option("--yes", "-y", help="No questions: use --provider (default groq, openrouter)")] = False,
         provider: Annotated[list[str] | None, typer.Option("--provider", "-p", help=f"One of {', '.join(CATALOG)} (repeatable)")] = None,
         custom: Annotated[list[str] | None, typer.Option(help="Any OpenAI-compatible URL as NAME=URL (repeatable; key from NAME_API_KEY)")] = None,
         custom_model: Annotated[list[str] | None, typer.Option(help="Model id(s) for --custom providers")] = None,
         port: Annotated[int, typer.Option(help="Gateway port (not 4000: LiteLLM's)")] = 4100,
         plans: Annotated[list[str] | None, typer.Option("--plan", help="A provider's plan as NAME=PLAN, e.g. groq=developer (default: free where there is one)")] = None,
         force: Annotated[bool, typer.Option(help="Overwrite existing files")] = False) -> None:
    """Write provider_config.yaml (keys as os.environ/ references) and .env.example."""
    if yes:
        plan = _plan_from_options(provider or list(_DEFAULT_PROVIDERS), custom or [],
                                  custom_model or [], port, plans or [])
    else:
        plan = _ask(port)
    if not plan.providers:
        raise fail("no providers chosen", code="config_error",
                   fix="pick at least one provider (or pass --yes --provider groq)")
    try:
        with friendly_errors():
            config_path, env_path = write_files(plan, directory, force=force)
    except FileExistsError as exc:
        raise fail(f"{exc.args[0]} already exists", code="config_error",
                   fix="pass --force to overwrite it, or --dir to write elsewhere") from None
    console.print(f"[green]wrote[/] {escape(str(config_path))} and {escape(str(env_path))}")
    keys = [p.key_env for p in plan.providers if p.key_env]
    console.print("next:")
    if keys:
        console.print(f"  1. copy .env.example to .env and fill in {escape(', '.join(keys))} "
                      "(or export them)")
    console.print(f"  2. provider-fallback doctor --config {escape(str(config_path))}")
    console.print(f"  3. provider-fallback serve --config {escape(str(config_path))}")


def _plan_from_options(names: list[str], customs: list[str], models: list[str],
                       port: int, plans: list[str]) -> InitPlan:
    plan = InitPlan(port=port)
    for name in names:
        choice = CATALOG.get(name.strip().lower())
        if choice is None:
            raise fail(f"unknown provider '{name}'", code="config_error",
                       fix=f"use one of {', '.join(CATALOG)}, or --custom NAME=URL")
        plan.providers.append(choice)
    for item in customs:
        name, sep, url = item.partition("=")
        if not sep:
            raise fail(f"--custom {item!r}: expected NAME=URL", code="config_error",
                       fix="e.g. --custom vllm=http://localhost:8000/v1")
        plan.providers.append(_custom(name.strip(), url.strip(), f"{_env_name(name)}_API_KEY",
                                      models or ["default"]))
    by_name = {p.name: i for i, p in enumerate(plan.providers)}
    for item in plans:
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in by_name:
            raise fail(f"--plan {item!r}: expected NAME=PLAN for a chosen provider",
                       code="config_error", fix="e.g. --plan groq=developer")
        i = by_name[name.strip()]
        try:
            plan.providers[i] = with_plan(plan.providers[i], value.strip())
        except ValueError as exc:
            raise fail(str(exc), code="config_error") from None
    return plan


def _custom(name: str, url: str, key_env: str | None, models: list[str]) -> ProviderChoice:
    try:
        return custom_provider(name, url, key_env, models)
    except ValueError as exc:
        raise fail(str(exc), code="config_error") from None


def _env_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper()


def _ask(port: int) -> InitPlan:
    console.print("Which providers do you have? (keys are never asked for: they go in .env)")
    plan = InitPlan()
    for choice in CATALOG.values():
        if not typer.confirm(f"  {choice.label}?", default=choice.name in _DEFAULT_PROVIDERS):
            continue
        if choice.name in ("litellm", "ollama", "lmstudio"):
            url = typer.prompt("    base URL", default=choice.base_url)
            choice = ProviderChoice(choice.name, choice.label, url.rstrip("/"), choice.key_env,
                                    choice.key_hint, choice.extra, choice.models, choice.plans,
                                    choice.plan)
        if choice.asks_model:
            model = typer.prompt("    model to use", default=choice.models[0])
            choice = with_models(choice, [model])
        if len(choice.plans) > 1:
            choice = _ask_plan(choice)
        plan.providers.append(choice)
    while typer.confirm("  Another OpenAI-compatible URL?", default=False):
        name = typer.prompt("    name (letters, digits, - _ .)")
        url = typer.prompt("    base URL (ending in /v1)")
        key_env = typer.prompt("    env variable holding its key (empty: no key)",
                               default=f"{_env_name(name)}_API_KEY", show_default=True)
        models = typer.prompt("    model ids, comma-separated")
        plan.providers.append(_custom(name, url, key_env.strip() or None,
                                      [m.strip() for m in models.split(",")]))
    plan.port = typer.prompt("Gateway port", default=port, type=int)
    if plan.port == 4000:
        console.print("[yellow]note[/] 4000 is where a LiteLLM proxy usually listens")
    return plan




def _ask_plan(choice: ProviderChoice) -> ProviderChoice:
    """Which plan the account is on: it decides prices (a free plan costs nothing) and limits."""
    while True:
        answer = typer.prompt(f"    plan ({', '.join(choice.plans)})", default=choice.plan)
        try:
            return with_plan(choice, str(answer).strip())
        except ValueError as exc:
            console.print(f"[yellow]{escape(str(exc))}[/]")
