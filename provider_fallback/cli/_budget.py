"""`provider-fallback budget ...`: spend, limits and the kill switch, read from the ledger file.

Works without a running gateway: it opens the same SQLite file. `reset` and `allow-paid`
write the ledger's overrides table, which a running gateway re-reads within about a second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ..budget import Budget, SpendLedger, default_ledger_path
from ..config import BudgetSettings
from ..config._durations import format_duration, parse_duration_value
from ..telemetry import EventBus
from ._common import console, fail, friendly_errors

__all__ = ["budget_app"]

DEFAULT_CONFIG = Path("provider_config.yaml")

budget_app = typer.Typer(help="Show spend against the budget; lift the kill switch.",
                         invoke_without_command=True, no_args_is_help=False)

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="Config file for limits and budget.data_dir "
    "(default: ./provider_config.yaml if it exists)")]
DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", help="Directory of spend.sqlite3 (overrides the config and "
    "$PROVIDER_FALLBACK_DATA_DIR)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]

_COLORS = {"OK": "green", "WARNING": "yellow", "CRITICAL": "red", "EXCEEDED": "bold red"}


def _settings(config: Path | None, data_dir: Path | None) -> BudgetSettings:
    settings = BudgetSettings()
    path = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    if path is not None:
        from ..config import load_config

        with friendly_errors():
            settings = load_config(path).budget
    if data_dir is not None:
        settings = BudgetSettings(settings.monthly_usd, settings.daily_usd, settings.warning,
                                  settings.critical, str(data_dir))
    return settings


@contextmanager
def _opened(ctx: typer.Context, config: Path | None, data_dir: Path | None) -> Iterator[Budget]:
    """A Budget over the ledger file; the sub-command's options win over the group's."""
    group = ctx.obj or {}
    settings = _settings(config or group.get("config"), data_dir or group.get("data_dir"))
    path = default_ledger_path(settings)
    try:
        ledger = SpendLedger(path, writer=False)
    except OSError as exc:
        raise fail(f"cannot open the spend ledger {path}: {exc}", code="ledger_unavailable",
                   fix="check budget.data_dir / --data-dir and its permissions") from None
    try:
        yield Budget(settings, ledger, EventBus())
    finally:
        ledger.close()


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}"


def _show(view: dict[str, Any], rows: list[dict[str, Any]], path: Path, days: int) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=f"spend, last {days} day(s) (UTC)", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    table.add_column("day", no_wrap=True)
    table.add_column("target", overflow="fold")
    for col in ("req", "tokens in/out", "cost"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["day"], f"{r['provider']}/{r['model']}", str(r["requests"]),
                      f"{r['prompt_tokens']}/{r['completion_tokens']}", _usd(r["cost_usd"]))
    if not rows:
        table.add_row("-", "no spend recorded", "", "", "")
    console.print(table)
    status = view["status"]
    limit = view["monthly_limit_usd"]
    console.print(f"month {view['month']}: {_usd(view['spend_month_usd'])}"
                  f" of {_usd(limit) if limit else 'no limit'}"
                  + (f" ({view['ratio'] * 100:.1f}% of the {view['period']} limit)"
                     if view["period"] else ""))
    if view["daily_limit_usd"]:
        console.print(f"today {view['day']}: {_usd(view['spend_day_usd'])} "
                      f"of {_usd(view['daily_limit_usd'])}")
    console.print(f"projected month-end: {_usd(view['projected_month_usd'])}")
    console.print(f"status: [{_COLORS.get(status, 'white')}]{status}[/]")
    if view["kill_switch"]:
        console.print("kill switch: [bold red]ON[/] (only free targets are used; "
                      "`provider-fallback budget reset` or `budget allow-paid --for 1h`)")
    elif view["allow_paid_until"]:
        console.print(f"kill switch: off, paid allowed until {_when(view['allow_paid_until'])}")
    elif view["lifted_month"] or view["lifted_day"]:
        console.print("kill switch: off (reset by an admin for this period)")
    else:
        console.print("kill switch: off")
    console.print(f"ledger: {path}", style="dim", markup=False, soft_wrap=True)


def _when(wall: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@budget_app.callback()
def budget(ctx: typer.Context, config: ConfigOpt = None, data_dir: DataDirOpt = None,
           days: Annotated[int, typer.Option("--days", min=1, help="Days of history")] = 7,
           as_json: JsonOpt = False) -> None:
    """Spend by provider/model/day, month total, limit, status and projected month-end."""
    ctx.obj = {"config": config, "data_dir": data_dir, "json": as_json}
    if ctx.invoked_subcommand is not None:
        return
    with _opened(ctx, None, None) as b:
        view = b.view()
        rows = [r.as_dict() for r in b.ledger.by_provider_model_day(days)]
        path = b.ledger.path
    if as_json:
        print(json.dumps({"budget": view, "spend": rows, "ledger": str(path)}, indent=2))
    else:
        _show(view, rows, path, days)


@budget_app.command()
def reset(ctx: typer.Context, config: ConfigOpt = None, data_dir: DataDirOpt = None,
          as_json: JsonOpt = False) -> None:
    """Lift the kill switch for the rest of this UTC month and day."""
    with _opened(ctx, config, data_dir) as b:
        view = b.reset()
    if as_json or (ctx.obj or {}).get("json"):
        print(json.dumps({"budget": view}, indent=2))
    else:
        console.print(f"kill switch lifted for {view['month']} (monthly) and {view['day']} "
                      f"(daily); status {view['status']}")


@budget_app.command("allow-paid")
def allow_paid(ctx: typer.Context,
               for_: Annotated[str, typer.Option("--for", help="e.g. 30m, 1h, 1h30m; 0 cancels")],
               config: ConfigOpt = None, data_dir: DataDirOpt = None,
               as_json: JsonOpt = False) -> None:
    """Allow paid targets for a while even when the budget is exceeded."""
    try:
        seconds = parse_duration_value(for_)
    except ValueError as exc:
        raise fail(str(exc), code="bad_duration", fix="e.g. --for 1h") from None
    with _opened(ctx, config, data_dir) as b:
        view = b.allow_paid(seconds)
    if as_json or (ctx.obj or {}).get("json"):
        print(json.dumps({"budget": view}, indent=2))
    elif seconds > 0:
        console.print(f"paid targets allowed for {format_duration(seconds)}, until "
                      f"{_when(view['allow_paid_until'])}")
    else:
        console.print("allow-paid cancelled")
