"""Events: what changed and why (FALLBACK, CIRCUIT_OPENED, RESTORED, ...), in a bounded ring."""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EVENT_TYPES", "Event", "EventBus"]

log = logging.getLogger("provider_fallback.events")

EVENT_TYPES = frozenset({
    "FALLBACK", "RESTORED", "CIRCUIT_OPENED", "CIRCUIT_CLOSED", "CIRCUIT_HALF_OPEN", "ALL_DOWN",
    "RECOVERED", "PROVIDER_DISABLED", "PROVIDER_ENABLED", "PROVIDER_FORCED", "PROVIDER_UNFORCED",
    "DEGRADED", "UPSTREAM_STARTED", "UPSTREAM_RESTARTED", "UPSTREAM_RESTART_FAILED",
    "BUDGET_WARNING", "BUDGET_CRITICAL", "BUDGET_EXCEEDED", "BUDGET_OK", "KILL_SWITCH",
    "CONFIG_RELOADED", "STATE_DEGRADED", "STATE_RESTORED",
})


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    ts: float                 # wall clock (time.time)
    type: str
    fields: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ts": round(self.ts, 3), "type": self.type, **self.fields}


class EventBus:
    """Keeps the last `size` events and calls subscribers synchronously (they must not block)."""

    def __init__(self, size: int = 1000, *, wall: Callable[[], float] = time.time) -> None:
        self._ring: deque[Event] = deque(maxlen=size)
        self._ids = itertools.count(1)
        self._subscribers: list[Callable[[Event], None]] = []
        self._wall = wall
        self._secrets: tuple[str, ...] = ()

    def redact(self, secrets: Iterable[str]) -> None:
        """Replace these values (configured keys) wherever they appear in event fields: an
        upstream may echo a key back in an error message in a shape no pattern knows."""
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def emit(self, type: str, **fields: Any) -> Event:
        if self._secrets:
            fields = _scrubbed(fields, self._secrets)
        event = Event(next(self._ids), self._wall(), type, fields)
        self._ring.append(event)
        log.info("%s %s", type, fields)
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:  # a broken subscriber never breaks the request path
                log.exception("event subscriber failed")
        return event

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def recent(self, limit: int | None = None, *, since_id: int = 0,
               types: frozenset[str] | None = None) -> list[Event]:
        out = [e for e in self._ring if e.id > since_id and (types is None or e.type in types)]
        return out[-limit:] if limit else out

    def count(self, type: str) -> int:
        return sum(1 for e in self._ring if e.type == type)


def _scrubbed(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, "[secret]")
        return value
    if isinstance(value, dict):
        return {k: _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v, secrets) for v in value]
    return value
