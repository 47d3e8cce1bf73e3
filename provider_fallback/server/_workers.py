"""`serve --workers N`: N worker processes accept on one listening socket (uvicorn's
supervisor; it spawns its workers on every OS, so each worker re-imports the app from an
import string and reloads the config file named in the environment).

Supervised upstreams run once, in this supervisor process (`SupervisionHost`); the
workers follow their status through a file named in the environment."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path

import uvicorn
from uvicorn.supervisors import multiprocess as _uv_multiprocess

from ..config import Config
from ._app import GatewayApp
from ._reload import RELOAD_TOKEN_ENV
from ._serve import build_app, tune_gc, uvicorn_config

__all__ = ["ACCEPTS_PER_WAKEUP", "CONFIG_ENV", "app_from_env", "run_workers"]

log = logging.getLogger("provider_fallback.server")

CONFIG_ENV = "PROVIDER_FALLBACK_CONFIG"
_LOGGING_ENV = "PROVIDER_FALLBACK_WORKER_LOGGING"   # "format:level" chosen by `serve`
_SUPERVISOR_ENV = "PROVIDER_FALLBACK_SUPERVISOR_PID"


def app_from_env() -> GatewayApp:
    """The app factory each worker runs (`provider_fallback.server._workers:app_from_env`)."""
    from ..config import load_config
    from ..telemetry import config_secrets, configure_logging

    cfg = load_config(os.environ[CONFIG_ENV])
    fmt, _, level = os.environ.get(_LOGGING_ENV, "").partition(":")
    # after uvicorn's own logging setup in the worker, as `serve` does in one process
    configure_logging(fmt or cfg.logging.format, level or cfg.logging.level,
                      secrets=config_secrets(cfg))
    app = build_app(cfg)
    # the supervisor's pid, from before it spawned us: a worker orphaned while it was still
    # starting sees a different parent already
    parent = int(os.environ.get(_SUPERVISOR_ENV) or os.getppid())

    async def watch_parent() -> None:
        app._orphan_watch = asyncio.create_task(_exit_when_orphaned(parent))  # type: ignore[attr-defined]

    app.on_startup.append(watch_parent)
    tune_gc()
    return app


async def _exit_when_orphaned(parent: int, interval: float = 1.0) -> None:
    """A worker whose supervisor died without stopping it (killed hard, OOM) stops itself
    instead of serving on, unsupervised, forever. On Unix `os.getppid` changes when the
    parent goes away; on Windows it never does, so this watch never fires there."""
    while os.getppid() == parent:
        await asyncio.sleep(interval)
    log.warning("supervisor (pid %s) is gone: this worker (pid %s) shuts down", parent,
                os.getpid())
    signal.raise_signal(signal.SIGTERM)


# Connections a worker accepts each time the shared listening socket wakes it. asyncio
# accepts up to the listen backlog (2048) per wake-up, so the worker that wakes first
# takes a whole burst: measured with wrk's 32 connections, one worker of two held all 32
# in every round (bench/bench_workers.py) and `--workers 2` ran at one worker's speed.
# Taking one at a time lets every idle worker take its share; a busy worker, whose loop
# comes back to the socket later, takes fewer.
ACCEPTS_PER_WAKEUP = 1


class _SharedSocketServer(uvicorn.Server):
    """A worker's uvicorn server on the supervisor's socket: accepts ACCEPTS_PER_WAKEUP
    connections per wake-up, with the kernel's queue still `backlog` long."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        config = self.config
        backlog = config.backlog
        if sockets is None:
            return await super().startup(sockets)
        # asyncio's create_server uses one number for both listen() and the accept loop
        config.backlog = ACCEPTS_PER_WAKEUP
        try:
            await super().startup(sockets)
        finally:
            config.backlog = backlog
        for sock in sockets:
            sock.listen(backlog)   # the queue length back (Linux/BSD/Windows: re-listen updates it)


class _WorkerProcess(_uv_multiprocess.Process):
    """uvicorn's worker process, running `_SharedSocketServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = _SharedSocketServer(config=self.config)
        return self._server


def run_workers(config_path: str | os.PathLike[str], sock: socket.socket, workers: int, *,
                log_level: str, log_format: str, config: Config | None = None) -> None:
    """Run `workers` gateway processes on the already-bound `sock` until interrupted; the
    config's supervised upstreams run here, once, while they do."""
    from uvicorn.supervisors import Multiprocess

    from ..health._supervision import SUPERVISION_ENV, SupervisionHost

    os.environ[CONFIG_ENV] = str(Path(config_path).resolve())
    # one reload token for this supervisor's workers: the one that reloads tells the others
    token = Path(tempfile.gettempdir()) / f"provider-fallback-{os.getpid()}.reload"
    os.environ[RELOAD_TOKEN_ENV] = str(token)
    os.environ[_LOGGING_ENV] = f"{log_format}:{log_level}"
    os.environ[_SUPERVISOR_ENV] = str(os.getpid())
    host, port = sock.getsockname()[:2]
    uv_config = uvicorn_config(f"{__name__}:app_from_env", host, port, log_level=log_level,
                               workers=workers,
                               server=config.server if config is not None else None)
    uv_config.factory = True
    supervision = None
    run_dir = None
    if config is not None and any(p.supervise for p in config.providers.values()):
        run_dir = Path(tempfile.mkdtemp(prefix="provider-fallback-"))
        supervision = SupervisionHost(config, run_dir / "supervised.json")
        os.environ[SUPERVISION_ENV] = str(supervision.path)
        supervision.start()
    # uvicorn's supervisor builds its processes by this module-level name (start, restart,
    # SIGTTIN): ours for as long as it runs
    process_class, _uv_multiprocess.Process = _uv_multiprocess.Process, _WorkerProcess
    try:
        Multiprocess(uv_config, sockets=[sock]).run()
    finally:
        _uv_multiprocess.Process = process_class
        if supervision is not None:
            supervision.stop()
            os.environ.pop(SUPERVISION_ENV, None)
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
        token.unlink(missing_ok=True)
