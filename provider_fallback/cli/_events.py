"""`provider-fallback events`: the persistent event log (SQLite), filtered, optionally followed."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any

import typer

from ._common import console, escape, friendly_errors
from ._telemetry_common import ConfigOpt, LogDirOpt, open_store, since_seconds

__all__ = ["events"]

_COLORS = {"FALLBACK": "yellow", "CIRCUIT_OPENED": "red", "ALL_DOWN": "bold red",
           "CIRCUIT_CLOSED": "green", "RESTORED": "green", "RECOVERED": "bold green",
           "CIRCUIT_HALF_OPEN": "yellow", "KILL_SWITCH": "bold red", "BUDGET_EXCEEDED": "red",
           "UPSTREAM_RESTART_FAILED": "red"}


def _line(e: dict[str, Any]) -> str:
    ts = datetime.fromtimestamp(e["ts"]).strftime("%Y-%m-%d %H:%M:%S")
    detail = " ".join(f"{k}={v if not isinstance(v, dict | list) else json.dumps(v)}"
                      for k, v in e.items() if k not in ("id", "ts", "type", "row"))
    color = _COLORS.get(e["type"], "cyan")
    return f"[dim]{ts}[/] [{color}]{e['type']:<18}[/] {escape(detail)}"


def events(since: Annotated[str, typer.Option("--since", help="How far back: 30m, 24h, 7d")] = "24h",
           provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only events "
                                                        "about this provider")] = None,
           type_: Annotated[list[str] | None, typer.Option("--type", "-t", help="Only these event "
                                                           "types (repeatable), e.g. FALLBACK")] = None,
           follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events "
                                                "until Ctrl-C")] = False,
           limit: Annotated[int, typer.Option(help="At most this many past events")] = 1000,
           as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
           config: ConfigOpt = None, log_dir: LogDirOpt = None,
           poll: Annotated[float, typer.Option(hidden=True)] = 0.5) -> None:
    """Gateway events (FALLBACK, CIRCUIT_*, RESTORED, ALL_DOWN, BUDGET_*, ...) from the log."""
    with friendly_errors():
        cutoff = time.time() - since_seconds(since)
        types = [t.upper() for t in type_] if type_ else None
        store = open_store(config, log_dir)
        try:
            after = 0
            while True:
                rows = store.events(since=cutoff, provider=provider, types=types,
                                    after_id=after, limit=limit)
                for e in rows:
                    if as_json:
                        print(json.dumps(e), flush=True)
                    else:
                        console.print(_line(e), soft_wrap=True)
                    after = max(after, e["row"])
                if not follow:
                    if not rows and not as_json:
                        console.print(f"[dim]no events in the last {since}[/]")
                    return
                time.sleep(poll)
        finally:
            store.close()
