"""`provider-fallback doctor` and `check --min-healthy N`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

import typer

from ..config import Config
from ..doctor import (
    Report,
    Severity,
    check_providers,
    load_for_doctor,
    run_doctor,
    startup_findings,
)
from ..errors import Shell
from ._common import ShellOpt, console, err_console, escape, fail, shell_of

__all__ = ["check", "doctor", "print_report", "report_startup_problems"]

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Path to provider_config.yaml")]
_MARK = {Severity.OK: "[green]ok[/]", Severity.INFO: "[dim]info[/]",
         Severity.WARNING: "[yellow]warn[/]", Severity.ERROR: "[bold red]error[/]"}


def doctor(config: ConfigOpt = Path("provider_config.yaml"),
           as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
           port: Annotated[int | None, typer.Option(help="Port serve will use (default: server.port)")] = None,
           timeout: Annotated[float, typer.Option(help="Seconds per network step")] = 5.0,
           slow: Annotated[float, typer.Option(help="Warn when a provider answers slower (s)")] = 2.0,
           verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also list passing checks")] = False,
           shell: ShellOpt = None) -> None:
    """Check config, keys, providers, port, proxy, clock (and on Windows excluded ports,
    firewall, WSL2 addresses); exit 0 ok, 1 warnings, 2 errors."""
    chosen = shell_of(shell)
    if as_json:
        report = asyncio.run(run_doctor(config, port=port, timeout=timeout, slow_threshold=slow))
        print(json.dumps(report.as_dict(chosen), indent=2))
        raise typer.Exit(report.exit_code)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("checking", total=None)

        def step(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"checked {escape(label)}", completed=done, total=total)

        report = asyncio.run(run_doctor(config, port=port, timeout=timeout, slow_threshold=slow,
                                        progress=step))
    print_report(report, verbose=verbose, shell=chosen)
    raise typer.Exit(report.exit_code)


def print_report(report: Report, *, verbose: bool = False, shell: Shell | None = None) -> None:
    from rich.table import Table

    table = Table(show_lines=True, title=f"provider-fallback doctor ({report.seconds:.2f}s)")
    for column in ("", "check", "code", "finding", "what to do"):
        table.add_column(column, overflow="fold")
    for f in report.findings:
        if f.severity is Severity.OK and not verbose:
            continue
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(f.steps(shell), 1))
        table.add_row(_MARK[f.severity], escape(f"{f.check} {f.subject}"), escape(f.code or "-"),
                      escape(f.message), escape(steps))
    if table.row_count:
        console.print(table)
    ok = report.count(Severity.OK)
    console.print(f"{len(report.findings)} findings in {report.seconds:.2f}s: {ok} ok, "
                  f"{report.count(Severity.WARNING)} warnings, {report.count(Severity.ERROR)} errors"
                  f"{'' if verbose or not ok else ' (-v lists the passing checks)'}")


def check(config: ConfigOpt = Path("provider_config.yaml"),
          min_healthy: Annotated[int, typer.Option("--min-healthy", help="Providers that must answer")] = 1,
          timeout: Annotated[float, typer.Option(help="Seconds per network step")] = 5.0,
          as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
          shell: ShellOpt = None) -> None:
    """Exit 0 only if at least N providers answer GET /models with their key (for CI/deploys)."""
    chosen = shell_of(shell)
    started = time.perf_counter()
    load = load_for_doctor(config)
    if load.config is None:
        for f in load.findings:
            if f.severity >= Severity.WARNING:
                err_console.print(f"[bold red]error[/] {escape(f'[{f.code}]')} {escape(f.message)}")
        raise typer.Exit(2)
    results = asyncio.run(check_providers(load.config, timeout=timeout, slow_threshold=float("inf"),
                                          load=load))
    healthy = [r.provider for r in results if r.healthy and not any(
        f.severity is Severity.ERROR for f in r.findings)]
    if as_json:
        print(json.dumps({"healthy": healthy, "min_healthy": min_healthy,
                          "seconds": round(time.perf_counter() - started, 3),
                          "providers": {r.provider: [f.as_dict(chosen) for f in r.findings
                                                     if f.severity >= Severity.WARNING]
                                        for r in results}}, indent=2))
    else:
        for r in results:
            errors = [f for f in r.findings if f.severity is Severity.ERROR]
            if r.provider in healthy:
                console.print(f"[green]ok[/]    {escape(r.provider)} ({r.ms or 0:.0f} ms)")
            else:
                first = errors[0] if errors else None
                why = f"[{first.code}] {first.message}" if first else "no answer"
                console.print(f"[red]down[/]  {escape(r.provider)}: {escape(why)}")
    if len(healthy) < min_healthy:
        raise fail(f"{len(healthy)} of {len(results)} providers healthy, need {min_healthy}",
                   code="not_enough_healthy", fix="run `provider-fallback doctor` for the reasons")
    if not as_json:
        console.print(f"{len(healthy)} of {len(results)} providers healthy (need {min_healthy})")


def report_startup_problems(config: Config, *, strict: bool) -> None:
    """`serve`'s fast doctor subset: one line per problem; with --strict, refuse to start."""
    findings = startup_findings(config)
    for f in findings:
        fix = f.resolution[0] if f.resolution else ""
        err_console.print(f"[yellow]warning[/] {escape(f'[{f.code}]')} {escape(f.message)}"
                          + (f" (fix: {escape(fix)})" if fix else ""), soft_wrap=True)
    if strict and findings:
        raise fail(f"{len(findings)} startup problem(s) and --strict is set", code="config_error",
                   fix="fix the problems above, or start without --strict", exit_code=2)
