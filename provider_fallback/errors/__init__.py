"""Error registry: every failure the product can meet, as data, and the classifier."""

from ._circuits import CIRCUIT_RULES, CircuitRule, OpenClass, Strike, circuit_rule
from ._classify import classify_response
from ._exceptions import (
    AllProvidersFailedError,
    Attempt,
    ConfigError,
    InvalidRequestError,
    ProviderFallbackError,
    StreamInterruptedError,
    UpstreamError,
)
from ._headers import parse_duration, retry_after_seconds
from ._registry import REGISTRY, spec
from ._scrub import scrub_secrets
from ._steps import Facts, Shell, Step, render_steps, sh
from ._transport import classify_exception
from ._types import ErrorSpec, Failure, Fault, Scope

__all__ = [
    "AllProvidersFailedError",
    "Attempt",
    "CIRCUIT_RULES",
    "CircuitRule",
    "ConfigError",
    "ErrorSpec",
    "Facts",
    "Failure",
    "Fault",
    "InvalidRequestError",
    "OpenClass",
    "ProviderFallbackError",
    "REGISTRY",
    "Scope",
    "Shell",
    "Step",
    "StreamInterruptedError",
    "Strike",
    "UpstreamError",
    "circuit_rule",
    "classify_exception",
    "classify_response",
    "parse_duration",
    "render_steps",
    "retry_after_seconds",
    "scrub_secrets",
    "sh",
    "spec",
]
