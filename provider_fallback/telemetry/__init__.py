"""Telemetry: events, per-request records, metrics, persistence, alerts, logging, reports."""

from ._alerts import ALERT_NAMES, Alert, Alerter, alert_payload
from ._events import EVENT_TYPES, Event, EventBus
from ._history import History
from ._hub import Telemetry
from ._jsonl import EVENTS_FILE, RotatingJsonl
from ._logging import JsonFormatter, RedactingFormatter, config_secrets, configure_logging, redact
from ._metrics import CONTENT_TYPE, GatewayMetrics
from ._records import RequestListeners, RequestRecord
from ._report import outage_report
from ._store import DB_FILE, TelemetryStore
from ._writer import TelemetryWriter, log_dir_for

__all__ = [
    "ALERT_NAMES",
    "Alert",
    "Alerter",
    "CONTENT_TYPE",
    "DB_FILE",
    "EVENTS_FILE",
    "EVENT_TYPES",
    "Event",
    "EventBus",
    "GatewayMetrics",
    "History",
    "JsonFormatter",
    "RedactingFormatter",
    "RequestListeners",
    "RequestRecord",
    "RotatingJsonl",
    "Telemetry",
    "TelemetryStore",
    "TelemetryWriter",
    "alert_payload",
    "config_secrets",
    "configure_logging",
    "log_dir_for",
    "outage_report",
    "redact",
]
