"""Events: what changed and why (FALLBACK, CIRCUIT_OPENED, RESTORED, ...), in a bounded ring."""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .._redact import REDACTOR, Redactor

__all__ = ["EVENT_TYPES", "Event", "EventBus"]

log = logging.getLogger("provider_fallback.events")

# Event text is shortened here, after masking, never by the emitter: a secret cut in half
# before masking leaves a piece that no mask recognises.
ERROR_LIMIT = 200
TEXT_LIMIT = 500

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
        self._redactor = Redactor()

    def redact(self, secrets: Iterable[str]) -> None:
        """Mask these values (configured keys), and every 12+ character piece of them,
        wherever they appear in event fields: an upstream may echo a key back in an error
        message in a shape no pattern knows. The process-wide registry is applied too."""
        self._redactor = Redactor(secrets)

    def emit(self, type: str, **fields: Any) -> Event:
        """Record an event. String fields are masked, then shortened (`error` to 200
        characters, other text to 500): pass messages whole."""
        fields = {k: _clean(v, self._redactor, ERROR_LIMIT if k == "error" else TEXT_LIMIT)
                  for k, v in fields.items()}
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


def _clean(value: Any, redactor: Redactor, limit: int) -> Any:
    if isinstance(value, str):
        value = REDACTOR.mask(redactor.mask(value))
        return value if len(value) <= limit else value[:limit - 1] + "…"
    if isinstance(value, dict):
        return {k: _clean(v, redactor, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, redactor, limit) for v in value]
    return value
