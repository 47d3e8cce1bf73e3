"""Running the gateway under uvicorn (httptools, behind the front door's protocol; uvloop
when installed, never required)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import uvicorn

from ..config import Config, ServerSettings
from ..routing import Router
from ._app import GatewayApp
from ._limits import FrontDoorLimits
from ._protocol import FrontDoorConfig, FrontDoorProtocol

__all__ = ["LOOP_ENV", "build_app", "event_loop_kind", "tune_gc", "uvicorn_config"]

# Young-generation collections run every 10,000 allocations instead of 700: a request
# allocates a few hundred objects, so the default runs a collection every couple of
# requests. Measured: 10-20% less CPU per request (bench/bench_gateway.py).
GC_GEN0_THRESHOLD = 10_000


def tune_gc() -> None:
    """For a gateway process, once everything long-lived is loaded: move it out of the
    collector's way (`gc.freeze`) and collect the young generation less often."""
    import gc

    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def build_app(config: Config, *, router: Router | None = None) -> GatewayApp:
    return GatewayApp(router if router is not None else Router(config))


LOOP_ENV = "PROVIDER_FALLBACK_LOOP"   # "asyncio": never uvloop (the Windows-like CI pass)


def event_loop_kind() -> str:
    """"uvloop" when installed and not turned off with PROVIDER_FALLBACK_LOOP=asyncio."""
    if os.environ.get(LOOP_ENV, "").lower() == "asyncio":
        return "asyncio"
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


def uvicorn_config(app: Any, host: str, port: int, *, log_level: str = "info",
                   workers: int | None = None,
                   server: ServerSettings | None = None) -> uvicorn.Config:
    """uvicorn's config for the gateway: `server`'s limits enforced by FrontDoorProtocol
    (header size/count, header and body timeouts, connections, lingering close)."""
    loop = event_loop_kind()
    settings = server if server is not None else ServerSettings()
    return FrontDoorConfig(app, front_door=FrontDoorLimits.of(settings), host=host, port=port,
                           loop=loop, http=FrontDoorProtocol, ws="none", lifespan="on",
                           access_log=False, log_level=log_level.lower(), server_header=False,
                           date_header=False, workers=workers,
                           # nothing reads the ASGI scope's client address (the front door
                           # logs the socket's peer): no X-Forwarded-For rewriting layer
                           proxy_headers=False,
                           timeout_keep_alive=max(1, round(settings.keep_alive_timeout)))
