"""`provider-fallback report`: a Markdown outage report from the telemetry store."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ..telemetry import outage_report
from ._common import console, friendly_errors
from ._telemetry_common import ConfigOpt, LogDirOpt, open_store, since_seconds

__all__ = ["report"]


def report(since: Annotated[str, typer.Option("--since", help="Window: 1h, 24h, 7d")] = "24h",
           output: Annotated[Path | None, typer.Option("--output", "-o", help="Markdown file to "
                                                       "write (default: outage-report-<UTC time>.md; "
                                                       "'-' prints it)")] = None,
           config: ConfigOpt = None, log_dir: LogDirOpt = None) -> None:
    """Write a Markdown outage report: affected providers, timeline, active provider, impact,
    recovery time."""
    with friendly_errors():
        now = time.time()
        start = now - since_seconds(since)
        store = open_store(config, log_dir)
        try:
            text = outage_report(store.events(since=start, limit=100_000),
                                 store.requests(since=start, limit=200_000),
                                 since=start, until=now, source=str(store.path))
        finally:
            store.close()
    if output is not None and str(output) == "-":
        print(text)
        return
    if output is None:
        output = Path(f"outage-report-{datetime.fromtimestamp(now, UTC):%Y%m%d-%H%M}.md")
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {output}", markup=False)
