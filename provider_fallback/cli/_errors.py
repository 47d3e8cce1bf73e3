"""`provider-fallback errors [CODE]`: the error registry, or what one code means."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..errors import REGISTRY
from ._common import console, fail

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


def errors(code: Annotated[str | None, typer.Argument(help="A registry code to explain")] = None,
           markdown: Annotated[bool, typer.Option(help="Print the registry as Markdown")] = False) -> None:
    """List every failure the gateway knows, or explain one code and how to fix it."""
    if code:
        s = REGISTRY.get(code)
        if s is None:
            raise fail(f"no registry code '{code}'", code="not_found",
                       fix="run `provider-fallback errors` to list them")
        console.print(f"[bold]{s.code}[/] ({s.category}, {s.fault.value}'s fault, HTTP {s.http_status})")
        console.print(s.summary, markup=False)
        console.print(f"retry same target: {'yes' if s.retry_same else 'no'}; fall over: "
                      f"{'yes' if s.fallover else 'no'}; cooldown: {s.cooldown_s:g}s on the "
                      f"{s.scope.value}; honours Retry-After: {'yes' if s.honours_retry_after else 'no'}")
        for i, step in enumerate(s.steps(), 1):
            console.print(f"  {i}. {step}", markup=False)
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
