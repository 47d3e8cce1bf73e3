"""Observability routes: /metrics, /admin/status, /admin/events/stream (SSE), /dashboard.

Installed by `install_extensions`; everything but the dashboard page itself needs the master
key when one is set (`metrics.public: true` opens /metrics). The page holds no data: it logs in
with the master key and reads the other routes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from importlib import resources
from typing import TYPE_CHECKING, Any

from .. import _json
from ..telemetry import CONTENT_TYPE, Event, Telemetry
from ._admin import int_param, query
from ._http import Receive, Scope, Send, on_disconnect, send_json
from ._limits import REJECTED

if TYPE_CHECKING:
    from ._app import GatewayApp

__all__ = ["install_observability"]

SSE_QUEUE = 1000
HEARTBEAT_S = 10.0
# A stream ends after this long and the client reconnects with since_id: uvicorn waits for
# open responses on shutdown, so an endless stream would hold a stopping gateway hostage.
STREAM_MAX_S = 5.0


def install_observability(app: GatewayApp) -> Telemetry:
    telemetry = Telemetry(app.router)
    app.telemetry = telemetry  # type: ignore[attr-defined]
    metrics = telemetry.metrics
    if metrics is not None:
        metrics.rejections = lambda: dict(REJECTED)

        async def metrics_route(scope: Scope, receive: Receive, send: Send) -> None:
            body = await metrics.render_async()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", CONTENT_TYPE.encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        app.add_route("GET", "/metrics", metrics_route,
                      public=app.router.config.metrics.public)

    async def status_route(scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, await status_snapshot(app, telemetry))

    async def stream_route(scope: Scope, receive: Receive, send: Send) -> None:
        await event_stream(app, scope, receive, send)

    page = _dashboard_html()  # read once, at startup, never on the request path

    async def dashboard_route(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(page)).encode()),
            (b"cache-control", b"no-store"),
            (b"content-security-policy", b"default-src 'self'; script-src 'unsafe-inline'; "
                                         b"style-src 'unsafe-inline'; img-src 'self' data:"),
            (b"x-frame-options", b"DENY")]})
        await send({"type": "http.response.body", "body": page})

    app.add_route("GET", "/admin/status", status_route)
    app.add_route("GET", "/admin/events/stream", stream_route)
    async def auth_route(scope: Scope, receive: Receive, send: Send) -> None:
        # lets the page ask for the key up front instead of provoking a 401
        await send_json(send, 200, {"auth": app.master_key is not None})

    app.add_route("GET", "/dashboard", dashboard_route, public=True)
    app.add_route("GET", "/dashboard/auth", auth_route, public=True)
    app.on_startup.append(telemetry.start)
    app.on_shutdown.append(telemetry.stop)
    return telemetry


async def status_snapshot(app: GatewayApp, telemetry: Telemetry) -> dict[str, Any]:
    """Everything the dashboard and `provider-fallback status` show, in one document."""
    router = app.router
    status = router.status()
    status["gateway"] = {"uptime_s": round(_now() - app.started, 1), "inflight": router.inflight,
                         "auth": app.master_key is not None,
                         "log_dir": str(telemetry.log_dir) if telemetry.log_dir else None}
    status["last_24h"] = await telemetry.summary(24)
    status["history"] = telemetry.history.series()
    status["events"] = [e.as_dict() for e in router.events.recent(50)]
    return status


def _now() -> float:
    import time

    return time.time()


async def event_stream(app: GatewayApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Server-sent events: the recent ring first (after `since_id`), then live events."""
    since = int_param(query(scope, {"since_id"}), "since_id", 0, 0, 2**63 - 1)
    queue: asyncio.Queue[Event | None] = asyncio.Queue(SSE_QUEUE)

    def on_event(event: Event) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a slow client misses events, never blocks
            queue.put_nowait(event)

    unsubscribe = app.router.events.subscribe(on_event)
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no")]})

    def left() -> None:
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)

    stop_watching = on_disconnect(scope, receive, left)
    try:
        last = since
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
        for e in app.router.events.recent(200, since_id=since):
            await send({"type": "http.response.body", "body": _sse(e), "more_body": True})
            last = e.id
        loop = asyncio.get_running_loop()
        end = loop.time() + STREAM_MAX_S
        while loop.time() < end:
            try:
                event = await asyncio.wait_for(queue.get(), min(HEARTBEAT_S, end - loop.time()))
            except TimeoutError:
                await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})
                continue
            if event is None:
                return
            if event.id <= last:
                continue
            last = event.id
            await send({"type": "http.response.body", "body": _sse(event), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except (ConnectionResetError, OSError):
        return
    finally:
        unsubscribe()
        stop_watching()


def _sse(event: Event) -> bytes:
    return (f"id: {event.id}\nevent: {event.type}\n".encode() + b"data: "
            + _json.dumps(_plain(event.as_dict())) + b"\n\n")


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v)
            for k, v in d.items()}


_PAGE: bytes | None = None


def _dashboard_html() -> bytes:
    global _PAGE
    if _PAGE is None:
        _PAGE = resources.files("provider_fallback.server").joinpath(
            "static/dashboard.html").read_bytes()
    return _PAGE
