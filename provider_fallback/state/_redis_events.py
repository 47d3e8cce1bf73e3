"""Every replica's events on every replica's bus, through the Redis `events` channel.

Local events are queued for publishing (the state writer sends them); events from other
replicas are appended to the local bus with `origin` set to the replica that emitted them.
Events that carry an `origin` are never published again, so nothing echoes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .. import _json
from ..telemetry import Event, EventBus

__all__ = ["EventRelay"]

log = logging.getLogger("provider_fallback.state")

OUTBOX_MAX = 1000   # while Redis is slow, older unsent events are dropped


class EventRelay:
    def __init__(self, bus: EventBus, replica: str, outbox: list[str],
                 wake: Callable[[], None]) -> None:
        self.bus = bus
        self.replica = replica
        self._outbox = outbox
        self._wake = wake
        self._unsubscribe = bus.subscribe(self._publish)

    def close(self) -> None:
        self._unsubscribe()

    def _publish(self, event: Event) -> None:
        if "origin" in event.fields:
            return   # came from another replica
        try:
            message = _json.dumps({"o": self.replica, "type": event.type, "ts": event.ts,
                                   "fields": event.fields}).decode()
        except (TypeError, ValueError):
            return
        if len(self._outbox) >= OUTBOX_MAX:
            del self._outbox[0]
        self._outbox.append(message)
        self._wake()

    def receive(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("o") == self.replica:
            return
        kind, fields = data.get("type"), data.get("fields")
        if not isinstance(kind, str) or not isinstance(fields, dict):
            return
        fields = {k: v for k, v in fields.items() if isinstance(k, str) and k != "type"}
        fields["origin"] = str(data.get("o"))
        self.bus.emit(kind, **fields)
