"""The OpenAI-compatible gateway server (ASGI)."""

from ._app import GatewayApp
from ._inloop import running_gateway
from ._serve import build_app, uvicorn_config
from ._thread import GatewayThread

__all__ = ["GatewayApp", "GatewayThread", "build_app", "running_gateway", "uvicorn_config"]
