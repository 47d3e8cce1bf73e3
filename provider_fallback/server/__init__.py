"""The OpenAI-compatible gateway server (ASGI)."""

from ._app import GatewayApp
from ._inloop import running_gateway
from ._serve import build_app, run, uvicorn_config

__all__ = ["GatewayApp", "build_app", "run", "running_gateway", "uvicorn_config"]

from ._thread import GatewayThread  # noqa: E402

__all__ += ["GatewayThread"]
