"""Running the gateway under uvicorn (httptools; uvloop when installed, never required)."""

from __future__ import annotations

import importlib.util
from typing import Any

import uvicorn

from ..config import Config
from ..routing import Router
from ._app import GatewayApp

__all__ = ["build_app", "uvicorn_config"]


def build_app(config: Config, *, router: Router | None = None) -> GatewayApp:
    return GatewayApp(router if router is not None else Router(config))


def uvicorn_config(app: Any, host: str, port: int, *, log_level: str = "info",
                   workers: int | None = None) -> uvicorn.Config:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return uvicorn.Config(app, host=host, port=port, loop=loop, http=http, lifespan="on",
                          access_log=False, log_level=log_level.lower(), server_header=False,
                          date_header=False, workers=workers, timeout_keep_alive=30)
