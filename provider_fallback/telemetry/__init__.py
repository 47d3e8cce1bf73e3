"""Telemetry: events now; metrics, logs and persistence with the observability issue."""

from ._events import EVENT_TYPES, Event, EventBus

__all__ = ["EVENT_TYPES", "Event", "EventBus"]
