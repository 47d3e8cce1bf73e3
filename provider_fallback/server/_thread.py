"""Run the gateway on a background thread with its own loop (demo, tests, benchmark)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn

from ..config import Config
from ..routing import Router
from ._app import GatewayApp
from ._serve import uvicorn_config

__all__ = ["GatewayThread"]


class GatewayThread:
    """`with GatewayThread(config) as gw: gw.url` -> "http://127.0.0.1:PORT/v1"."""

    def __init__(self, config: Config, *, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", **router_kwargs: Any) -> None:
        self.config = config
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self._router_kwargs = router_kwargs
        self._log_level = log_level
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.app: GatewayApp | None = None
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + "/v1"

    @property
    def router(self) -> Router:
        assert self.app is not None
        return self.app.router

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.app = GatewayApp(Router(self.config, **self._router_kwargs))
        cfg = uvicorn_config(self.app, self.host, self.port, log_level=self._log_level)
        cfg.loop = "none"
        self._server = server = uvicorn.Server(cfg)
        task = asyncio.create_task(server.serve(sockets=[self._sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        self._ready.set()
        await task

    def start(self) -> GatewayThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
