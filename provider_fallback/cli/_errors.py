"""`provider-fallback errors [CODE]`: the error registry, or what one code means."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import REGISTRY, ErrorSpec, Facts, Shell
from ..errors._lookup import find_codes
from ._common import ShellOpt, console, fail, friendly_errors, shell_of

DEFAULT_CONFIG = Path("provider_config.yaml")

__all__ = ["errors", "registry_markdown"]


def registry_markdown() -> str:
    """The registry as a Markdown table (the README's error section is generated from it)."""
    rows = ["| code | category | fault | retry same | fall over | cooldown | scope | HTTP | summary |",
            "|---|---|---|---|---|---|---|---|---|"]
    for s in REGISTRY.values():
        cd = f"{s.cooldown_s:g}s" if s.cooldown_s else "-"
        rows.append(f"| `{s.code}` | {s.category} | {s.fault.value} | {'yes' if s.retry_same else 'no'} "
                    f"| {'yes' if s.fallover else 'no'} | {cd} | {s.scope.value} | {s.http_status} "
                    f"| {s.summary} |")
    return "\n".join(rows)


def errors(code: Annotated[str | None, typer.Argument(
               help="A registry code, a runbook name (groq-rate-limit), an HTTP status (429), "
                    "an errno (ECONNREFUSED) or a Windows socket error (10013, WinError 10061)")] = None,
           markdown: Annotated[bool, typer.Option(help="Print the registry as Markdown")] = False,
           shell: ShellOpt = None,
           config: Annotated[Path | None, typer.Option(
               "--config", "-c", help="Fill the steps from this config (default: "
               "./provider_config.yaml if it exists)")] = None,
           provider: Annotated[str | None, typer.Option(
               "--provider", "-p", help="Fill the steps with this provider's URL and key "
               "variable")] = None) -> None:
    """List every failure the gateway knows, or explain one and how to fix it."""
    from rich.table import Table

    chosen = shell_of(shell)
    if code:
        found = find_codes(code)
        if not found.codes:
            hint = f"did you mean: {', '.join(found.suggestions)}? " if found.suggestions else ""
            raise fail(f"no registry code matches '{code}'", code="not_found",
                       fix=f"{hint}run `provider-fallback errors` to list them")
        if len(found.codes) > 1:
            table = Table(title=f"{len(found.codes)} codes for {found.how} {code}")
            for col in ("code", "HTTP", "summary"):
                table.add_column(col, overflow="fold")
            for c in found.codes:
                table.add_row(c, str(REGISTRY[c].http_status), REGISTRY[c].summary)
            console.print(table)
            console.print(f"`provider-fallback errors {found.codes[0]}` explains one", markup=False)
            return
        _explain(REGISTRY[found.codes[0]], found.how, code, _facts(config, provider), chosen)
        return
    if markdown:
        print(registry_markdown())
        return
    table = Table(title=f"{len(REGISTRY)} registry codes")
    for col in ("code", "category", "fault", "retry", "fall over", "cooldown", "scope", "HTTP"):
        table.add_column(col)
    for s in REGISTRY.values():
        table.add_row(s.code, s.category, s.fault.value, "yes" if s.retry_same else "no",
                      "yes" if s.fallover else "no", f"{s.cooldown_s:g}s" if s.cooldown_s else "-",
                      s.scope.value, str(s.http_status))
    console.print(table)


def _explain(s: ErrorSpec, how: str, query: str, facts: Facts, shell: Shell) -> None:
    if how != "code":
        console.print(f"{how} {query} is:", markup=False)
    console.print(f"[bold]{s.code}[/] ({s.category}, {s.fault.value}'s fault, HTTP {s.http_status})")
    console.print(s.summary, markup=False)
    console.print(f"retry same target: {'yes' if s.retry_same else 'no'}; fall over: "
                  f"{'yes' if s.fallover else 'no'}; cooldown: {s.cooldown_s:g}s on the "
                  f"{s.scope.value}; honours Retry-After: {'yes' if s.honours_retry_after else 'no'}")
    console.print(f"what to do ({shell.value}):", markup=False)
    for i, step in enumerate(s.steps(facts, shell), 1):
        console.print(f"  {i}. {step}", markup=False, soft_wrap=True)


def _facts(config: Path | None, provider: str | None) -> Facts:
    """What the config knows, to fill the steps; nothing when there is no config."""
    path = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    if path is None:
        return Facts.of(provider=provider)
    from ..config import load_config
    from ..config._step_facts import FactsBook

    with friendly_errors(Facts.of(config=path)):
        cfg = load_config(path)
    if provider is not None and provider not in cfg.providers:
        raise fail(f"no provider '{provider}' in {path}", code="config_error",
                   fix=f"use one of: {', '.join(cfg.providers)}")
    return FactsBook(cfg).of(provider)
