"""Run the gateway on a background thread with its own loop (sync tests, scripts)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from ..config import Config
from ..routing import Router
from ._app import GatewayApp
from ._inloop import running_gateway

__all__ = ["GatewayThread"]


class GatewayThread:
    """`with GatewayThread(config) as gw: gw.url` -> "http://127.0.0.1:PORT/v1"."""

    def __init__(self, config: Config, *, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", **router_kwargs: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self._config = config
        self._kwargs = {"log_level": log_level, **router_kwargs}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app: GatewayApp | None = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

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
        self._stop = asyncio.Event()
        async with running_gateway(self._config, sock=self._sock, **self._kwargs) as app:
            self.app = app
            self._ready.set()
            await self._stop.wait()

    def start(self) -> GatewayThread:
        self._thread.start()
        self._ready.wait(15)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
