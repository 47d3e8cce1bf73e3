"""Telemetry: events, per-request records; metrics and persistence build on these."""

from ._events import EVENT_TYPES, Event, EventBus
from ._records import RequestListeners, RequestRecord

__all__ = ["EVENT_TYPES", "Event", "EventBus", "RequestListeners", "RequestRecord"]
