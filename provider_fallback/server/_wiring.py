"""Where optional gateway extensions plug in: each adds routes and startup/shutdown hooks.

Each capability package exposes `install(app)`; this list is the one place they are wired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._app import GatewayApp

__all__ = ["install_extensions"]


def install_extensions(app: GatewayApp) -> None:
    """Called once from GatewayApp.__init__."""
    from ._observe import install_observability
    from ._protocols import install_protocols
    from ._reload import install_reload

    install_observability(app)  # /metrics, /admin/status, /admin/events/stream, /dashboard
    install_reload(app)         # POST /admin/reload, server.watch_config, workers' token
    install_protocols(app)      # /v1/messages, /v1/responses, /v1/models per format, HEAD /
