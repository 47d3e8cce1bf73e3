"""`provider-fallback serve` and `validate`."""

from __future__ import annotations

import dataclasses
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from ..config import check_bind, describe, load_config
from ..server._limits import raise_descriptor_limit
from ..server._serve import build_app, tune_gc, uvicorn_config
from ..telemetry import config_secrets, configure_logging
from ._common import console, err_console, escape, fail, friendly_errors
from ._doctor import report_startup_problems

__all__ = ["bind_socket", "serve", "validate"]

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Path to provider_config.yaml")]


def bind_socket(host: str, port: int, *, config: Path | None = None) -> socket.socket:
    """Bind the listening socket ourselves so 'port in use' is a named error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP (proto 0 means Nagle + delayed ACK: ~40 ms per response)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: refuse to share a bound port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise _bind_failure(host, port, exc, config) from None
    sock.set_inheritable(True)
    return sock


def _bind_failure(host: str, port: int, exc: OSError, config: Path | None) -> typer.Exit:
    """Doctor's port check says why (the holder of a busy port; on Windows an excluded port
    range behind WinError 10013) and gives the steps, filled in, for this shell."""
    from ..doctor import Severity, check_port
    from ..doctor._windows import check_excluded_ports
    from ..errors import Facts

    finding = check_port(host, port)
    if finding.severity < Severity.ERROR:   # freed meanwhile: report what bind said
        return fail(f"cannot bind {host}:{port}: {exc.strerror}", code="gateway_error",
                    exit_code=2)
    if finding.code == "access_denied_socket" and sys.platform == "win32":
        excluded = [f for f in check_excluded_ports([("gateway", port)]) if f.code == "port_excluded"]
        finding = excluded[0] if excluded else finding
    finding = dataclasses.replace(finding, facts=finding.facts.merge(Facts.of(config=config)))
    err_console.print(f"[bold red]error[/] {escape(f'[{finding.code}]')} "
                      f"{escape(finding.message)}", soft_wrap=True)
    for step in finding.steps():
        err_console.print(f"  fix: {step}", markup=False, soft_wrap=True)
    return typer.Exit(2)


def serve(config: ConfigOpt = Path("provider_config.yaml"),
          host: Annotated[str | None, typer.Option(help="Bind address (default: server.host)")] = None,
          port: Annotated[int | None, typer.Option(help="Port (default: server.port, 4100)")] = None,
          log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error "
                                                        "(default: logging.level, info)")] = None,
          log_format: Annotated[str | None, typer.Option(help="console or json (default: "
                                                         "logging.format)")] = None,
          strict: Annotated[bool, typer.Option(help="Refuse to start on any startup problem")] = False,
          workers: Annotated[int, typer.Option(min=1, help="Worker processes (share state "
                                               "through `state: {backend: redis}`)")] = 1) -> None:
    """Run the OpenAI-compatible gateway: point clients at http://HOST:PORT/v1."""
    with friendly_errors():
        cfg = load_config(config)
        bind_host = host or cfg.server.host
        bind_port = port if port is not None else cfg.server.port
        check_bind(bind_host, cfg.server.master_key)
    report_startup_problems(cfg, strict=strict)
    level = (log_level or cfg.logging.level).lower()
    fmt = (log_format or cfg.logging.format).lower()
    if level not in ("debug", "info", "warning", "error") or fmt not in ("console", "json"):
        raise fail(f"--log-level {level} / --log-format {fmt} not understood",
                   code="invalid_request", fix="--log-level debug|info|warning|error, "
                   "--log-format console|json", exit_code=2)
    raise_descriptor_limit()   # before the connection limit is derived from it
    sock = bind_socket(bind_host, bind_port, config=config)
    # plain print, not rich's console: the line has no markup, and rich would stay loaded
    # in the gateway's memory for it (~2 MiB)
    print(f"provider-fallback gateway on http://{bind_host}:{bind_port}/v1 "
          f"({len(cfg.chains)} models, {len(cfg.providers)} providers"
          f"{f', {workers} workers' if workers > 1 else ''})", flush=True)
    if workers > 1:
        if cfg.state.backend == "memory":
            err_console.print(f"[yellow]warning[/] {workers} workers with `state: {{backend: "
                              "memory}`: each worker keeps its own circuits and rate-limit "
                              "counts; set `state: {backend: redis, url: ...}` to share them",
                              soft_wrap=True)
        from ..server._workers import run_workers

        run_workers(config, sock, workers, log_level=level, log_format=fmt, config=cfg)
        return
    uv_config = uvicorn_config(build_app(cfg), bind_host, bind_port, log_level=level,
                               server=cfg.server)
    # after uvicorn's own logging setup, so every line (uvicorn's too) is ours and redacted
    configure_logging(fmt, level, secrets=config_secrets(cfg))
    server = uvicorn.Server(uv_config)
    tune_gc()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass


def validate(file: Annotated[Path, typer.Argument(help="Config file to check")]) -> None:
    """Check a config file and print the resolved fallback chains (exit 1 on any problem)."""
    with friendly_errors():
        cfg = load_config(file)
    for warning in cfg.warnings:
        err_console.print(f"[yellow]warning[/] {warning}", soft_wrap=True)
    console.print(describe(cfg), markup=False, soft_wrap=True)
    keys = "" if len(cfg.families) == len(cfg.providers) else f" ({len(cfg.providers)} keys)"
    console.print(f"[green]ok[/] {file}: {len(cfg.families)} providers{keys}, "
                  f"{len(cfg.chains)} models")
