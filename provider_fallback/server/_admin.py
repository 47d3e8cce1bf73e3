"""Admin API: provider states and manual control (disable, enable, restore, force).

Mounted under /admin by GatewayApp; needs the master key whenever one is set, loopback or not.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from ..config import parse_duration_value
from ..errors import InvalidRequestError
from ..routing import Router
from ._body import json_object
from ._http import Receive, Scope, Send, read_body, send_json

__all__ = ["AdminAPI", "int_param", "query"]

_ACTIONS = ("disable", "enable", "restore", "force", "probe")
ADMIN_BODY_LIMIT = 64 * 1024
EVENTS_MAX = 1000          # the event ring's size
_TIERS = ("quick", "full", "validate")


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
        raw = await read_body(scope, receive, ADMIN_BODY_LIMIT,
                              "the admin API's fixed limit of 64 KiB")
        if not raw.strip():
            return {}
        return json_object(raw, "admin request body")

    async def _probe(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.router.health._known(name)
        monitor = self.router.monitor
        if monitor is None:
            raise InvalidRequestError("health monitor is off (health.enabled: false)",
                                      code="invalid_request", http_status=409)
        tier = body.get("tier", "quick")
        if tier not in _TIERS:
            raise InvalidRequestError(f"'tier' must be one of {', '.join(_TIERS)}",
                                      code="invalid_request")
        result = await monitor.probe_now(name, tier)
        return {"ok": True, "provider": name, "probe": _as_dict(result)}

    def _events(self, scope: Scope) -> dict[str, Any]:
        q = query(scope, {"since_id", "limit"})
        since = int_param(q, "since_id", 0, 0, 2**63 - 1)
        limit = int_param(q, "limit", 200, 1, EVENTS_MAX)
        events = self.router.events.recent(limit, since_id=since)
        return {"events": [e.as_dict() for e in events]}


def query(scope: Scope, known: set[str]) -> dict[str, str]:
    """The query string's parameters (one value each), refusing unknown or repeated ones."""
    try:
        raw = scope.get("query_string", b"").decode("ascii")
        q = parse_qs(raw, keep_blank_values=True, strict_parsing=bool(raw),
                     max_num_fields=len(known) + 1)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("the query string is malformed", code="invalid_request") from None
    for name, values in q.items():
        if name not in known:
            raise InvalidRequestError(f"unknown query parameter '{name[:40]}'; known: "
                                      f"{', '.join(sorted(known))}", code="invalid_request")
        if len(values) > 1:
            raise InvalidRequestError(f"query parameter '{name}' given twice",
                                      code="invalid_request")
    return {name: values[0] for name, values in q.items()}


def int_param(q: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """`q[name]` as an integer in [low, high] (default when absent), else a 400."""
    text = q.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise InvalidRequestError(f"query parameter '{name}' must be an integer from {low} to "
                                  f"{high}, got {text[:40]!r}", code="invalid_request")
    return int(text)


def _as_dict(result: Any) -> Any:
    if hasattr(result, "__dataclass_fields__"):
        from dataclasses import asdict

        d = asdict(result)
        if isinstance(d.get("models"), frozenset | set):
            d["models"] = sorted(d["models"])
        return d
    return result
