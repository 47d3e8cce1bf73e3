"""Admin API: provider states and manual control (disable, enable, restore, force).

Mounted under /admin by GatewayApp; needs the master key whenever one is set, loopback or not.
"""

from __future__ import annotations

from typing import Any

from .. import _json
from ..config import parse_duration_value
from ..errors import InvalidRequestError
from ..routing import Router
from ._http import Receive, Scope, Send, read_body, send_json

__all__ = ["AdminAPI"]

_ACTIONS = ("disable", "enable", "restore", "force", "probe")


class AdminAPI:
    def __init__(self, router: Router) -> None:
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        method = scope["method"]
        parts = [p for p in path.split("/") if p][1:]  # drop "admin"
        health = self.router.health
        if parts == ["providers"] and method == "GET":
            return await send_json(send, 200, self.router.status())
        if parts == ["events"] and method == "GET":
            return await send_json(send, 200, self._events(scope))
        if parts == ["providers", "unforce"] and method == "POST":
            health.force(None)
            return await send_json(send, 200, {"ok": True, "forced": None})
        if len(parts) == 3 and parts[0] == "providers" and parts[2] in _ACTIONS:
            if method != "POST":
                raise InvalidRequestError(f"use POST for {path}", code="method_not_allowed",
                                          http_status=405)
            name, action = parts[1], parts[2]
            body = await self._body(scope, receive)
            if action == "disable":
                seconds = body.get("for")
                try:
                    duration = None if seconds in (None, "") else parse_duration_value(seconds)
                except (TypeError, ValueError) as exc:
                    raise InvalidRequestError(f"'for' must be a duration like 10m: {exc}",
                                              code="invalid_request") from None
                health.disable(name, duration)
            elif action == "enable":
                health.enable(name)
            elif action == "restore":
                health.restore(name)
            elif action == "force":
                health.force(name)
            else:
                return await send_json(send, 200, await self._probe(name, body))
            return await send_json(send, 200, {"ok": True, "provider": name, "action": action,
                                               "status": health.provider_view(name, self.router._clock())})
        raise InvalidRequestError(f"no admin route {method} {path}", code="not_found",
                                  http_status=404)

    async def _body(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        raw = await read_body(scope, receive, 64 * 1024)
        if not raw.strip():
            return {}
        try:
            body = _json.loads(raw)
        except _json.JSONDecodeError:
            raise InvalidRequestError("admin request body is not valid JSON",
                                      code="invalid_json") from None
        if not isinstance(body, dict):
            raise InvalidRequestError("admin request body must be a JSON object", code="invalid_request")
        return body

    async def _probe(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.router.health._known(name)
        monitor = self.router.monitor
        if monitor is None:
            raise InvalidRequestError("health monitor is off (health.enabled: false)",
                                      code="invalid_request", http_status=409)
        result = await monitor.probe_now(name, str(body.get("tier", "quick")))
        return {"ok": True, "provider": name, "probe": _as_dict(result)}

    def _events(self, scope: Scope) -> dict[str, Any]:
        from urllib.parse import parse_qs

        q = parse_qs(scope.get("query_string", b"").decode())
        since = int(q.get("since_id", ["0"])[0] or 0)
        limit = int(q.get("limit", ["200"])[0] or 200)
        events = self.router.events.recent(limit, since_id=since)
        return {"events": [e.as_dict() for e in events]}


def _as_dict(result: Any) -> Any:
    if hasattr(result, "__dataclass_fields__"):
        from dataclasses import asdict

        d = asdict(result)
        if isinstance(d.get("models"), frozenset | set):
            d["models"] = sorted(d["models"])
        return d
    return result
