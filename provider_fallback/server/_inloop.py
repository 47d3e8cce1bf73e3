"""Run the gateway inside the current event loop (demo, recovery benchmark, tests)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from ..config import Config
from ..routing import Router
from ._app import GatewayApp
from ._serve import uvicorn_config

__all__ = ["running_gateway"]


@asynccontextmanager
async def running_gateway(config: Config, *, sock: socket.socket | None = None,
                          log_level: str = "warning", **router_kwargs: Any) -> AsyncIterator[GatewayApp]:
    """Serve `config` on `sock` (default: an ephemeral loopback port) until the block exits.

    The app's `.port` and `.base_url` are set once it listens.
    """
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
        sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    app = GatewayApp(Router(config, **router_kwargs))
    app.port = port
    app.base_url = f"http://{host}:{port}"
    server = uvicorn.Server(uvicorn_config(app, host, port, log_level=log_level,
                                           server=config.server))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the gateway did not start")
        await asyncio.sleep(0.005)
    try:
        yield app
    finally:
        server.should_exit = True
        await task
        sock.close()
