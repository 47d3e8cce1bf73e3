"""Configuration: the YAML file validated once at the edge, compiled to frozen values.

`load_config(path)` / `config_from_dict(data)` return a `Config`; the router only reads
its frozen dataclasses (`Chain`, `Target`, `ProviderSpec`, `Policy`, `ServerSettings`).
Every problem is a `ConfigError` naming the file, the key path and the fix.
"""

from ._bind import check_bind
from ._describe import describe
from ._durations import parse_duration_value, parse_size
from ._load import config_from_dict, load_config
from ._model import (
    AlertSettings,
    AlertSink,
    BudgetSettings,
    Chain,
    CircuitSettings,
    Config,
    ContinuationSettings,
    HealthSettings,
    LoggingSettings,
    MetricsSettings,
    Policy,
    Pricing,
    ProviderSpec,
    QueueSettings,
    RateLimits,
    ServerSettings,
    StateSettings,
    SupervisorSpec,
    Target,
    TelemetrySettings,
)

__all__ = [
    "AlertSettings",
    "AlertSink",
    "BudgetSettings",
    "Chain",
    "CircuitSettings",
    "Config",
    "ContinuationSettings",
    "HealthSettings",
    "LoggingSettings",
    "MetricsSettings",
    "Policy",
    "Pricing",
    "ProviderSpec",
    "QueueSettings",
    "RateLimits",
    "ServerSettings",
    "StateSettings",
    "SupervisorSpec",
    "Target",
    "TelemetrySettings",
    "check_bind",
    "config_from_dict",
    "describe",
    "load_config",
    "parse_duration_value",
    "parse_size",
]
