"""provider-fallback: keep AI agents answering when LLM providers fail.

Public API: `load_config` / `config_from_dict` build a Config; `Router` (async) and
`SyncRouter` route requests along each model's fallback chain; every error is a
`ProviderFallbackError` carrying a registry code (see `provider_fallback.errors`).
"""

from ._version import __version__
from .config import Config, config_from_dict, load_config
from .errors import (
    AllProvidersFailedError,
    Attempt,
    ConfigError,
    Failure,
    InvalidRequestError,
    ProviderFallbackError,
    StreamInterruptedError,
    UpstreamError,
)
from .routing import Completion, Router, StreamingCompletion
from .routing._sync import SyncRouter

__all__ = [
    "AllProvidersFailedError",
    "Attempt",
    "Completion",
    "Config",
    "ConfigError",
    "Failure",
    "InvalidRequestError",
    "ProviderFallbackError",
    "Router",
    "StreamInterruptedError",
    "StreamingCompletion",
    "SyncRouter",
    "UpstreamError",
    "__version__",
    "config_from_dict",
    "load_config",
]
