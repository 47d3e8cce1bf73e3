"""What `events` and `report` share: finding and opening the telemetry store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..telemetry import DB_FILE, TelemetryStore, log_dir_for
from ._common import fail
from ._gateway import DEFAULT_CONFIG

__all__ = ["ConfigOpt", "LogDirOpt", "open_store", "since_seconds"]

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (for "
                                                "telemetry.log_dir; default: "
                                                "./provider_config.yaml if it exists)")]
LogDirOpt = Annotated[Path | None, typer.Option("--log-dir", help="Telemetry directory (default: "
                                                "telemetry.log_dir, $FALLBACK_LOG_DIR, or the "
                                                "data dir's logs/)")]


def since_seconds(text: str) -> float:
    from ..config import parse_duration_value

    try:
        return parse_duration_value(text)
    except ValueError as exc:
        raise fail(f"--since: {exc}", code="invalid_request", fix="use e.g. 30m, 24h or 7d") from None


def open_store(config: Path | None, log_dir: Path | None) -> TelemetryStore:
    if log_dir is None:
        cfg = None
        if config is None and DEFAULT_CONFIG.is_file():
            config = DEFAULT_CONFIG
        if config is not None:
            from ._gateway import config_for_reading

            cfg = config_for_reading(config)
        log_dir = log_dir_for(cfg)
    path = log_dir / DB_FILE
    try:
        return TelemetryStore(path, readonly=True)
    except FileNotFoundError:
        raise fail(f"no telemetry database at {path}", code="config_error",
                   fix="start the gateway once (`provider-fallback serve`), or pass --log-dir / "
                       "--config pointing at the gateway's telemetry.log_dir") from None
